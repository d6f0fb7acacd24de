-- The case's domain events, one row per event, keyed so a retried save never duplicates.
CREATE TABLE case_events (
    case_id     text        NOT NULL,
    seq         integer     NOT NULL CHECK (seq >= 1),
    type        text        NOT NULL,
    at          timestamptz NOT NULL,
    by_actor    text        NOT NULL,
    data        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX case_events_type_at ON case_events (type, at);

-- Reminders, escalations and feedback to referrers and social workers, for a sender to deliver.
CREATE TABLE notifications (
    id          bigserial   PRIMARY KEY,
    case_id     text        NOT NULL,
    seq         integer     NOT NULL,
    kind        text        NOT NULL,
    recipient   text        NOT NULL,
    subject     text        NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    UNIQUE (case_id, seq, kind),
    FOREIGN KEY (case_id, seq) REFERENCES case_events (case_id, seq)
);
CREATE INDEX notifications_unsent ON notifications (created_at) WHERE sent_at IS NULL;

-- Letters left at unannounced visits and closure forms for the EHA co-ordinator.
CREATE TABLE documents (
    id          bigserial   PRIMARY KEY,
    case_id     text        NOT NULL,
    seq         integer     NOT NULL,
    kind        text        NOT NULL,
    text        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, seq, kind),
    FOREIGN KEY (case_id, seq) REFERENCES case_events (case_id, seq)
);

-- Referrals to the Multi Agency Safeguarding Hub on step-up.
CREATE TABLE mash_referrals (
    case_id     text        NOT NULL,
    seq         integer     NOT NULL,
    reason      text        NOT NULL,
    referred_at timestamptz NOT NULL,
    referred_by text        NOT NULL,
    PRIMARY KEY (case_id, seq),
    FOREIGN KEY (case_id, seq) REFERENCES case_events (case_id, seq)
);
