-- The run that opened each case: a second run under a used case id is refused (docs/contract.md,
-- "A case_id is never started twice"), whichever client started it and with whatever reuse policy.
CREATE TABLE case_runs (
    case_id     text        PRIMARY KEY,
    run_id      text        NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO case_runs (case_id, run_id)
SELECT DISTINCT case_id, 'before-0004' FROM case_events;
