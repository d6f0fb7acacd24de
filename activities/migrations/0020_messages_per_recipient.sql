-- One event may write a message of one kind to several people (an invitation to a TAF meeting, to each
-- invitee): each is the event's message number `part`, so a message stays written once per event, kind and part.
ALTER TABLE notifications ADD COLUMN part smallint NOT NULL DEFAULT 0;
ALTER TABLE notifications DROP CONSTRAINT notifications_case_id_seq_kind_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_once UNIQUE (case_id, seq, kind, part);
