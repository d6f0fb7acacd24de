-- The inbox's and the case list's questions at a county's size (benchmarks/README.md, "Read model"): each
-- case carries its next pending deadline and how many missed deadlines are not done, and each deadline
-- whether its case has ended, all kept by the projection (activities/projections.py), so the oldest
-- overdue of a team, or a page of its overdue cases, is read in order from an index, not sorted from all.
ALTER TABLE cases ADD COLUMN next_deadline timestamptz, ADD COLUMN overdue integer NOT NULL DEFAULT 0;
ALTER TABLE deadlines ADD COLUMN case_ended boolean NOT NULL DEFAULT false;

UPDATE cases c SET
    next_deadline = (SELECT min(due_at) FROM deadlines d WHERE d.case_id = c.case_id AND d.status = 'pending'),
    overdue = (SELECT count(*) FROM deadlines d WHERE d.case_id = c.case_id AND d.status = 'missed'
               AND d.completed_at IS NULL);
UPDATE deadlines d SET case_ended = true FROM cases c WHERE c.case_id = d.case_id AND c.ended_at IS NOT NULL;

-- Deadlines still to act on, of open cases, in the order they fell due.
CREATE INDEX deadlines_to_act_on ON deadlines (due_at)
    WHERE NOT case_ended AND (status = 'pending' OR (status = 'missed' AND completed_at IS NULL));
CREATE INDEX cases_open_next_deadline ON cases (next_deadline) WHERE ended_at IS NULL;
CREATE INDEX cases_open_overdue ON cases (locality, received_at) WHERE ended_at IS NULL AND overdue > 0;
