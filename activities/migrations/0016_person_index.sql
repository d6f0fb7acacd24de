-- Finding a person without exposing them: each member's normalised name parts, date of birth, postcode, NHS
-- number and UPN as blind indexes (keyed hashes), per case and person (a person's blind reference).
CREATE TABLE person_index (
    case_id text NOT NULL,
    person text NOT NULL,
    kind text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (case_id, person, kind, value)
);
CREATE INDEX person_index_value ON person_index (kind, value);
