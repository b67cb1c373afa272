-- Identities and access: users, API keys, sessions, signing keys, policies,
-- roles and the bindings that give principals roles. Every row belongs to
-- an org; deletes of audited entities are soft (deleted_ms).

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    name           TEXT NOT NULL,
    password_hash  TEXT,
    created_ms     BIGINT NOT NULL,
    deleted_ms     BIGINT,
    UNIQUE (org_id, name)
);

-- The secret is shown once; only its SHA-256 is kept (secrets are 256-bit
-- random, so a slow hash adds nothing).
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT,
    revoked_ms    BIGINT,
    last_used_ms  BIGINT
);
CREATE INDEX api_keys_by_user ON api_keys (org_id, user_id);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);

-- HMAC keys that sign access tokens, by key id. New tokens use the newest;
-- older keys keep verifying until they are retired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    retired_ms  BIGINT
);

-- Managed policies. Built-in ones (OrgAdmin, ...) are defined in code and
-- referred to by name; these are the org's own.
CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    document    TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    deleted_ms  BIGINT
);
CREATE INDEX policies_by_org ON policies (org_id, name);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    deleted_ms  BIGINT
);
CREATE INDEX roles_by_org ON roles (org_id, name);

-- A role's policies: managed ones by name (built-in or the org's own), and
-- inline documents that belong to the role alone.
CREATE TABLE role_policies (
    role_id      TEXT NOT NULL,
    org_id       TEXT NOT NULL,
    policy_name  TEXT NOT NULL,
    PRIMARY KEY (role_id, policy_name)
);

CREATE TABLE role_inline_policies (
    role_id   TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    name      TEXT NOT NULL,
    document  TEXT NOT NULL,
    PRIMARY KEY (role_id, name)
);

-- A principal (user or API key) holds a role in the whole org (project_id
-- empty) or in one project, where the role applies only to that project's
-- resources.
CREATE TABLE bindings (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    principal_type  TEXT NOT NULL,
    principal_id    TEXT NOT NULL,
    role_id         TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    UNIQUE (principal_type, principal_id, role_id, project_id)
);
CREATE INDEX bindings_by_principal ON bindings (principal_type, principal_id);
