-- When each open case was last supervised (issue #26): the manager's view of a practitioner's caseload shows it, so a
-- case nobody has supervised stands out. A date, no family data.
ALTER TABLE cases ADD COLUMN last_supervision_at timestamptz;
