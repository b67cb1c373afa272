-- Orgs contain projects. The foundation's projects move into the `default`
-- org, which every installation has; nothing else changes for them.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL,
    -- Soft delete: the name stays reserved, as history refers to it.
    deleted_ms  BIGINT
);

INSERT INTO orgs (id, name, created_ms) VALUES ('org-default', 'default', 0);

ALTER TABLE projects ADD COLUMN org_id TEXT NOT NULL DEFAULT 'org-default';
ALTER TABLE projects ADD COLUMN deleted_ms BIGINT;
CREATE INDEX projects_by_org ON projects (org_id, name);
