-- Erased cases, by id and date only. An erased case's wrapped data key is deleted from case_keys (and the
-- table vacuumed at once, activities/erasure.py), so no copy of it is left in the live database to unwrap.
CREATE TABLE erased_cases (
    case_id   text PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO erased_cases (case_id, erased_at) SELECT case_id, erased_at FROM case_keys WHERE erased_at IS NOT NULL;
DELETE FROM case_keys WHERE erased_at IS NOT NULL;
ALTER TABLE case_keys DROP COLUMN erased_at;
ALTER TABLE case_keys ALTER COLUMN wrapped_key SET NOT NULL;
