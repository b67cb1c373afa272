-- Workflows: state machines in the States Language, their immutable
-- versions, their executions and each execution's journal.

-- A workflow's name is unique in its project; `version` is the one new
-- executions run.
CREATE TABLE workflows (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    version      BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Versions never change; the same definition again is the same version.
CREATE TABLE workflow_versions (
    workflow_id      TEXT NOT NULL,
    version          BIGINT NOT NULL,
    project_id       TEXT NOT NULL REFERENCES projects(id),
    sha256           TEXT NOT NULL,
    definition_json  TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, version),
    UNIQUE (workflow_id, sha256)
);

-- An execution, with what its journal ended with (status, output, error)
-- copied here for listing. `hops`: the chain of event deliveries that
-- started it (0 from the API), which its own events continue. A running execution is leased to the node that
-- drives it, like a delivery of the bus; a dead node's executions are
-- claimed by another once their lease ran out.
CREATE TABLE workflow_executions (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id),
    workflow_id    TEXT NOT NULL,
    workflow_name  TEXT NOT NULL,
    version        BIGINT NOT NULL,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL,
    input_json     TEXT NOT NULL,
    output_json    TEXT,
    error          TEXT,
    cause          TEXT,
    role           TEXT NOT NULL DEFAULT '',
    started_ms     BIGINT NOT NULL,
    stopped_ms     BIGINT,
    events         BIGINT NOT NULL DEFAULT 0,
    hops           BIGINT NOT NULL DEFAULT 0,
    lease_owner    TEXT NOT NULL DEFAULT '',
    lease_ms       BIGINT NOT NULL DEFAULT 0,
    UNIQUE (workflow_id, name)
);
CREATE INDEX workflow_executions_list ON workflow_executions (workflow_id, started_ms, id);
CREATE INDEX workflow_executions_claim ON workflow_executions (status, lease_ms);

-- The journal: append-only, numbered from 0 per execution.
CREATE TABLE workflow_events (
    execution_id  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    body_json     TEXT NOT NULL,
    at_ms         BIGINT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

-- Signals from outside (task tokens sent back, stops) for an execution
-- whichever node drives it; removed in the transaction that journals what
-- they caused.
CREATE TABLE workflow_signals (
    id            TEXT PRIMARY KEY,
    execution_id  TEXT NOT NULL,
    signal_json   TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX workflow_signals_execution ON workflow_signals (execution_id);

-- A workflow execution's tasks log with its id as their trace id: its
-- story is read by trace.
CREATE INDEX log_lines_by_trace ON log_lines (project_id, trace_id, time_ms);
