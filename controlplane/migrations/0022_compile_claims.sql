-- One node at a time compiles a component for an engine: a deploy of new
-- bytes claims (sha256, fingerprint) until `until_ms`, compiles, stores the
-- artifact (compiled_artifacts) and deletes its claim; deploys of the same
-- bytes on other nodes meanwhile wait for the artifact instead of
-- compiling it too. A claim left by a node that died ends at `until_ms`.
-- Platform data, like compiled_artifacts: no tenant owns a row.
CREATE TABLE compile_claims (
    sha256       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    owner        TEXT NOT NULL,
    until_ms     BIGINT NOT NULL,
    PRIMARY KEY (sha256, fingerprint)
);
