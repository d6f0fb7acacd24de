-- Web sessions sealed under the web app's own secret (web/sessions.py): id_hash becomes an HMAC, and `seal`
-- an HMAC of the row, so a row written in the database signs nobody in. Sessions from before are ended.
DELETE FROM web_sessions;
ALTER TABLE web_sessions ADD COLUMN seal text NOT NULL;
