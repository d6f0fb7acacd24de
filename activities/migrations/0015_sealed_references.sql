-- A person's reference, sealed under the case's key, for the SSD export; `person_ref` (and `cases.family_ref`)
-- now hold blind indexes (keyed hashes) where keys are configured, so no reference is stored in the clear.
-- Rows written before keep their clear values until `earlyhelp rebuild` projects them again.
ALTER TABLE case_people ADD COLUMN person_sealed text;
