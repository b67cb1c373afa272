-- The audit log: append-only, one hash chain per org. Each record holds the
-- hash of the one before it, so a changed or deleted record shows. No API
-- updates or deletes a record.
CREATE TABLE audit_records (
    org_id       TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    time_ms      BIGINT NOT NULL,
    actor_type   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    decision     TEXT NOT NULL,
    outcome      BIGINT NOT NULL,
    source_ip    TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    trace_id     TEXT NOT NULL,
    params       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_by_time ON audit_records (org_id, time_ms);
