-- Each case's data key, wrapped by a master key (crypto-shredding: erasing the key erases the case).
CREATE TABLE case_keys (
    case_id       text PRIMARY KEY,
    master_key_id text NOT NULL,
    wrapped_key   bytea,               -- null once erased
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz
);

-- Who did what that is not a case event: erasures.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    case_id   text NOT NULL,
    reason    text NOT NULL
);
