-- The read model: projections derived only from case_events (activities/projections.py),
-- updated in the same transaction as the events they come from, and rebuildable from them.
CREATE TABLE cases (
    case_id            text PRIMARY KEY,
    route              text NOT NULL,
    locality           text NOT NULL,
    stage              text NOT NULL,
    lead_practitioner  text,
    recommendation     text,
    referrer_agency    text,
    previous_referrals integer NOT NULL DEFAULT 0,
    received_at        timestamptz NOT NULL,
    screening_decision text,
    screened_at        timestamptz,
    accepted_at        timestamptz,
    allocated_at       timestamptz,
    taf_held_at        timestamptz,
    stepped_up_at      timestamptz,
    masp_referred_at   timestamptz,
    ended_at           timestamptz,
    final_stage        text,
    end_reason         text,
    last_seq           integer NOT NULL
);
CREATE INDEX cases_stage ON cases (stage);
CREATE INDEX cases_lead ON cases (lead_practitioner);

-- People of the case by reference only (for the SSD export): never names or dates of birth.
CREATE TABLE case_people (
    case_id    text NOT NULL REFERENCES cases ON DELETE CASCADE,
    person_ref text NOT NULL,
    role       text NOT NULL,
    PRIMARY KEY (case_id, person_ref)
);

CREATE TABLE deadlines (
    case_id      text NOT NULL REFERENCES cases ON DELETE CASCADE,
    seq          integer NOT NULL,
    kind         text NOT NULL,
    due_at       timestamptz NOT NULL,
    status       text NOT NULL,
    reminded     boolean NOT NULL DEFAULT false,
    escalated    boolean NOT NULL DEFAULT false,
    completed_at timestamptz,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX deadlines_pending ON deadlines (due_at) WHERE status = 'pending';

CREATE TABLE approvals (
    case_id      text NOT NULL REFERENCES cases ON DELETE CASCADE,
    seq          integer NOT NULL,
    reason       text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    resolution   text,          -- approved, refused, cancelled; null while pending
    decided_by   text,
    decided_at   timestamptz,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE additional_service_requests (
    case_id      text NOT NULL REFERENCES cases ON DELETE CASCADE,
    seq          integer NOT NULL,
    service      text NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- What each practitioner has to do next: open deadlines of their cases, and their RfAS.
CREATE VIEW tasks AS
SELECT c.lead_practitioner AS practitioner, c.case_id, c.locality, d.kind AS task, d.due_at, d.status
FROM deadlines d JOIN cases c USING (case_id)
WHERE d.status = 'pending' AND d.kind IN ('first_contact_attempt', 'warm_handover_answer', 'taf', 'review')
UNION ALL
SELECT r.requested_by, r.case_id, c.locality, 'rfas: ' || r.service, NULL, 'requested'
FROM additional_service_requests r JOIN cases c USING (case_id)
WHERE c.ended_at IS NULL;
