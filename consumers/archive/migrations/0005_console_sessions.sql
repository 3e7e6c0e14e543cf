-- The lead archive, version 5: the console's sessions, shared by every console replica.
-- A session is opened at sign-in and read on every request, on whichever replica gets it; sign-out
-- deletes it, so a copied cookie is worthless on every replica at once. session_key is the SHA-256 of
-- the session id in the cookie (the id itself is never stored). seen_at is written at most once a
-- minute per session (the idle timeout is exact to that minute). Expired rows are purged.

CREATE TABLE IF NOT EXISTS console_sessions (
    session_key VARCHAR(64)  NOT NULL PRIMARY KEY,
    username    VARCHAR(100) NOT NULL,
    opened_at   BIGINT       NOT NULL,
    seen_at     BIGINT       NOT NULL
);

CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions (username);
CREATE INDEX IF NOT EXISTS console_sessions_seen ON console_sessions (seen_at)
