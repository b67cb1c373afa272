-- Capabilities: execution roles and settings of functions, object storage,
-- the key-value store, secrets, and leveled log lines.

-- The role a function's instances act as (a role name in the function's
-- org; empty: none, so every platform call is denied), its wasi:config
-- settings and its per-invocation caps on host use.
ALTER TABLE functions ADD COLUMN role_name TEXT NOT NULL DEFAULT '';
ALTER TABLE functions ADD COLUMN config_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE functions ADD COLUMN host_limits_json TEXT NOT NULL DEFAULT '{}';

CREATE TABLE buckets (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- An object's content lives in the object store under `blob`; the row is
-- what makes it visible, so an upload shows only once it is complete.
CREATE TABLE objects (
    bucket_id     TEXT NOT NULL REFERENCES buckets(id),
    object_key    TEXT NOT NULL,
    blob          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    content_type  TEXT,
    metadata_json TEXT NOT NULL DEFAULT '{}',
    modified_ms   BIGINT NOT NULL,
    PRIMARY KEY (bucket_id, object_key)
);

CREATE TABLE kv_entries (
    project_id  TEXT NOT NULL REFERENCES projects(id),
    bucket      TEXT NOT NULL,
    entry_key   TEXT NOT NULL,
    value       BYTEA NOT NULL,
    version     BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (project_id, bucket, entry_key)
);

CREATE TABLE secrets (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Values sealed with AES-256-GCM under the master key; the secret's id and
-- version are the associated data, so a ciphertext cannot be moved to
-- another secret or version.
CREATE TABLE secret_versions (
    secret_id   TEXT NOT NULL REFERENCES secrets(id),
    version     BIGINT NOT NULL,
    nonce       TEXT NOT NULL,
    ciphertext  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (secret_id, version)
);

ALTER TABLE log_lines ADD COLUMN level TEXT;
