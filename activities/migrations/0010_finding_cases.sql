-- Finding cases (activities/read_model.py find_cases): a case id's start, by locality, open or ended.
CREATE INDEX cases_case_id_prefix ON cases (case_id text_pattern_ops);
CREATE INDEX cases_locality_open ON cases (locality, received_at) WHERE ended_at IS NULL;
CREATE INDEX cases_ended ON cases (ended_at) WHERE ended_at IS NOT NULL;
-- What a list asks of each case: its next pending deadline, whether one was missed and is not done, whether a
-- closure waits (each an index lookup per case, not a scan).
CREATE INDEX deadlines_pending_of_case ON deadlines (case_id, due_at) WHERE status = 'pending';
CREATE INDEX deadlines_missed_open ON deadlines (case_id) WHERE status = 'missed' AND completed_at IS NULL;
CREATE INDEX approvals_pending ON approvals (case_id) WHERE resolution IS NULL;
