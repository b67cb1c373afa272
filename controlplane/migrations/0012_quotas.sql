-- Quotas: the platform administrator's overrides of the server's default
-- quotas (--org-quota, --project-quota), one row per org or project. A
-- NULL column keeps the default of its kind; usage is counted from the
-- rows it concerns (functions, event rules, objects) or, for running
-- instances and request rates, in memory.
CREATE TABLE org_quotas (
    org_id        TEXT PRIMARY KEY REFERENCES orgs(id),
    concurrency   BIGINT,
    memory_mib    BIGINT,
    rps           BIGINT,
    stored_bytes  BIGINT,
    functions     BIGINT,
    rules         BIGINT,
    updated_ms    BIGINT NOT NULL
);

CREATE TABLE project_quotas (
    project_id    TEXT PRIMARY KEY REFERENCES projects(id),
    concurrency   BIGINT,
    memory_mib    BIGINT,
    rps           BIGINT,
    stored_bytes  BIGINT,
    functions     BIGINT,
    rules         BIGINT,
    updated_ms    BIGINT NOT NULL
);
