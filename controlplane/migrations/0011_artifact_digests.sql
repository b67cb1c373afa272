-- The SHA-256 of each compiled artifact the platform wrote, per component
-- and engine fingerprint. A compiled artifact is loaded as machine code, so
-- the object store's copy (and the local cache's) is trusted only when its
-- digest matches this row; anything else is compiled again from the
-- original, whose own name is its digest. Platform data shared by every
-- project that deploys the same bytes: no tenant owns a row.
CREATE TABLE compiled_artifacts (
    sha256       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    digest       TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (sha256, fingerprint)
);
