-- The web app's sessions (web/sessions.py): ended by sign-out, idle timeout or a person's removal.
CREATE TABLE web_sessions (
    id_hash    text        PRIMARY KEY,   -- SHA-256 of the cookie's random id, never the id itself
    person     text,
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen);
CREATE INDEX web_sessions_person ON web_sessions (person);
