-- The family plan's actions as the lead's tasks and the digest read them (issue #26): for each action of the
-- plan as it stands, its need's code and its due day. Facts only: the action's id is kept as its blind index
-- (a review closes or rates it by id), its words and owner stay sealed in the case's events.
CREATE TABLE plan_actions (
    case_id text NOT NULL,
    action_key text NOT NULL,
    need_code text NOT NULL,
    due date NOT NULL,
    closed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (case_id, action_key)
);
CREATE INDEX plan_actions_open_by_due ON plan_actions (due, case_id) WHERE NOT closed;

-- A practitioner's tasks: the steps of their cases not done yet, missed ones too (before, a missed step left the
-- list), each open action of their families' plans, and their requests for services. `detail` says which
-- need an action is for, or which service was requested.
DROP VIEW tasks;
CREATE VIEW tasks AS
SELECT c.lead_practitioner AS practitioner, c.case_id, c.locality, d.kind AS task, d.due_at, d.status,
       NULL::text AS detail
FROM deadlines d JOIN cases c USING (case_id)
WHERE d.kind IN ('first_contact_attempt', 'warm_handover_answer', 'taf', 'review') AND c.ended_at IS NULL
  AND (d.status = 'pending' OR (d.status = 'missed' AND d.completed_at IS NULL))
UNION ALL
SELECT c.lead_practitioner, c.case_id, c.locality, 'plan_action',
       ((a.due + 1)::timestamp AT TIME ZONE 'Europe/London'), 'pending', a.need_code
FROM plan_actions a JOIN cases c USING (case_id)
WHERE NOT a.closed AND c.ended_at IS NULL
UNION ALL
SELECT r.requested_by, r.case_id, c.locality, 'rfas', NULL, 'requested', r.service
FROM additional_service_requests r JOIN cases c USING (case_id)
WHERE c.ended_at IS NULL;
