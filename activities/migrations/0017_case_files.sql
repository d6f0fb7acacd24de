-- Documents kept on a case (a signed consent form, a school report): each file sealed under the case's key,
-- as a serialized payload; what it is and its hash are in the case's record_document event.
CREATE TABLE case_files (
    case_id text NOT NULL,
    document_id text NOT NULL,
    content_type text NOT NULL,
    size integer NOT NULL,
    sealed bytea NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, document_id)
);
