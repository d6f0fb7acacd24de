-- Finding cases (activities/read_model.py find_cases): a case id's start, by locality, open or ended.
CREATE INDEX cases_case_id_prefix ON cases (case_id text_pattern_ops);
CREATE INDEX cases_locality_open ON cases (locality, received_at) WHERE ended_at IS NULL;
CREATE INDEX cases_ended ON cases (ended_at) WHERE ended_at IS NOT NULL;
