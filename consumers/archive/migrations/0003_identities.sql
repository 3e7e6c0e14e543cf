-- The lead archive, version 3: identity revealed under control.
-- sealed_identities holds each person's ID number sealed by the adapter for the console's reveal
-- service (never in clear: only the reveal service's private key opens it); the audit log keeps
-- the purpose an officer stated for a reveal.

CREATE TABLE IF NOT EXISTS sealed_identities (
    person_key VARCHAR(64)  NOT NULL PRIMARY KEY,
    key_id     VARCHAR(16)  NOT NULL,
    sealed     TEXT         NOT NULL,  -- base64 of the seal (jiandu/core/identity_seal.py)
    sealed_at  BIGINT       NOT NULL,
    stored_at  BIGINT       NOT NULL
);

ALTER TABLE audit_log ADD COLUMN detail TEXT
