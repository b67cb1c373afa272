-- Sessions of the web console. The browser's cookie holds only a random
-- id; the row, found by that id's SHA-256, holds the user's token pair and
-- the session's CSRF token, sealed under the master key (bound to the row
-- and its generation). `generation` counts renewals, so that requests
-- renewing one session at once (on one node or several) settle on one
-- pair. Signing out deletes the row, so a copied cookie stops working.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_ms);
