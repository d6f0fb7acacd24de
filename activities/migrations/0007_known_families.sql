-- Known families [000][002]: a case's family reference (an id in the council's systems, never a name), so
-- the engine finds earlier cases of the same family or of its people. Erased with the case.
ALTER TABLE cases ADD COLUMN family_ref text;
UPDATE cases c SET family_ref = e.data->>'family_ref'
FROM case_events e WHERE e.case_id = c.case_id AND e.type = 'CaseReferred';
CREATE INDEX cases_family_ref ON cases (family_ref);
CREATE INDEX case_people_person_ref ON case_people (person_ref);

-- Contacts through the advice point [002]: a contact log outside cases, counts only (no names, no text).
CREATE TABLE advice_contacts (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    locality  text NOT NULL,
    channel   text NOT NULL,
    outcome   text NOT NULL,
    by_actor  text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX advice_contacts_at ON advice_contacts (at);
