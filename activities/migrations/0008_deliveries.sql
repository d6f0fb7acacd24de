-- Delivery of the outbox through GOV.UK Notify (activities/delivery.py): the item's Notify id once sent, its
-- status as Notify reports it until final, and why it failed (codes only, never the message's text).
ALTER TABLE notifications ADD COLUMN notify_id text;
ALTER TABLE notifications ADD COLUMN delivery_status text;
ALTER TABLE notifications ADD COLUMN final_at timestamptz;
ALTER TABLE notifications ADD COLUMN failure text;
CREATE INDEX notifications_undelivered ON notifications (id) WHERE notify_id IS NULL AND failure IS NULL;
