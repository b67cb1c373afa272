-- One node at a time compiles a component for an org and an engine: a
-- deploy of bytes its org never deployed claims (org, sha256, fingerprint)
-- until `until_ms`, compiles, stores the artifact (compiled_artifacts) and
-- deletes its claim; the org's deploys of the same bytes on other nodes
-- meanwhile wait for the artifact instead of compiling it too. A claim left
-- by a node that died ends at `until_ms`. Claims are per org: how long a
-- deploy waits must not tell one tenant what another is deploying.
CREATE TABLE compile_claims (
    org_id       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    owner        TEXT NOT NULL,
    until_ms     BIGINT NOT NULL,
    PRIMARY KEY (org_id, sha256, fingerprint)
);
