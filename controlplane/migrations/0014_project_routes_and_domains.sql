-- Routes are unique per project, not across the platform: each project's
-- routes answer only on its own host names, so two projects may both have
-- `GET /webhook` (the foundation's UNIQUE (method, path) let the first
-- tenant to take a path refuse it to every other). SQLite cannot drop a
-- table constraint, so the table is rebuilt, on both databases alike.
CREATE TABLE routes_by_project (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id),
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    function_name  TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    auth           TEXT NOT NULL DEFAULT '',
    UNIQUE (project_id, method, path)
);
INSERT INTO routes_by_project (id, project_id, method, path, function_name, created_ms, auth)
    SELECT id, project_id, method, path, function_name, created_ms, auth FROM routes;
DROP TABLE routes;
ALTER TABLE routes_by_project RENAME TO routes;

-- Custom domains: a host name a project's routes answer on besides
-- `<project>.<base domain>`, once the project proves it controls the name
-- with a DNS TXT record holding the token. Any number of projects may
-- claim a name (so no one can squat on it); only one may hold it verified.
CREATE TABLE domains (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id),
    name         TEXT NOT NULL,
    token        TEXT NOT NULL,
    verified_ms  BIGINT,
    created_ms   BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE UNIQUE INDEX domains_verified_once ON domains (name) WHERE verified_ms IS NOT NULL;
