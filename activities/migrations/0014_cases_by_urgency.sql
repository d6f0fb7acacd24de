-- The case list's default order (activities/read_model.py find_cases): a case with a missed deadline not done
-- first, then by its next deadline; an index in that order, so a page of open cases is read, not sorted.
CREATE INDEX cases_open_by_urgency ON cases ((overdue > 0) DESC, next_deadline) WHERE ended_at IS NULL;
