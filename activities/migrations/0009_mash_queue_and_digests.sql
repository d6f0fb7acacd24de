-- The MASH queue (workflows/mash.py): who acknowledged a referral and when, and when a missed
-- acknowledgement was escalated to the duty manager.
ALTER TABLE mash_referrals ADD COLUMN acknowledged_by text;
ALTER TABLE mash_referrals ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE mash_referrals ADD COLUMN escalated_at timestamptz;
CREATE INDEX mash_referrals_waiting ON mash_referrals (referred_at) WHERE acknowledged_at IS NULL;

-- Daily digests (workflows/digest.py) are notifications of no case: one per person per working day.
ALTER TABLE notifications ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE notifications ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN digest_key text UNIQUE;
ALTER TABLE notifications ADD CONSTRAINT notifications_of_a_case_or_a_digest
    CHECK ((case_id IS NOT NULL AND seq IS NOT NULL) OR digest_key IS NOT NULL);
CREATE INDEX notifications_of_case ON notifications (case_id, id);
