-- Retention (activities/retention.py): the year the family's youngest member was born (the year alone, so closed
-- cases due for review are found without opening anyone's sealed details), and a manager's decision to keep a
-- case until a later review (its reason is in the audit log, as an erasure's is).
ALTER TABLE cases ADD COLUMN youngest_born_year smallint;

CREATE TABLE retention_reviews (
    case_id text PRIMARY KEY,
    review_on date NOT NULL,
    decided_by text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now()
);
