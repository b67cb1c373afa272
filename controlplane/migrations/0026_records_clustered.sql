-- Every invocation writes its record (and its lines) on the hot path.
-- The records were kept in the order they were written, with two more
-- B-trees beside them (the id's unique index, the by-function index),
-- three B-trees an invocation; every read goes by project, function and
-- time. Each table is now keyed in that order, so an invocation's record
-- is one B-tree entry on SQLite (`/* without rowid */` is made
-- `WITHOUT ROWID` there; PostgreSQL reads it as the comment it is, and
-- keeps a heap and the key's index, one structure fewer than before).
-- No index keeps an id unique any more: the server makes a new one for
-- each invocation, and the key ends with it.
--
-- Each old table is renamed first: on PostgreSQL that locks it until the
-- migration commits, so a server still writing records (the one a
-- hand-over replaces, another node) waits and then writes into the new
-- table, instead of adding rows to the old one while it is copied and
-- losing them with it. Its indexes go before the new ones take the names.
ALTER TABLE invocations RENAME TO invocations_before_26;
DROP INDEX invocations_by_function;
CREATE TABLE invocations (
    project_id      TEXT NOT NULL,
    function_name   TEXT NOT NULL,
    started_ms      BIGINT NOT NULL,
    id              TEXT NOT NULL,
    function_id     TEXT NOT NULL,
    version         BIGINT NOT NULL,
    trace_id        TEXT NOT NULL,
    duration_us     BIGINT NOT NULL,
    instantiate_us  BIGINT NOT NULL,
    peak_memory     BIGINT NOT NULL,
    outcome         TEXT NOT NULL,
    http_status     BIGINT,
    error           TEXT,
    logs_dropped    BIGINT NOT NULL,
    CONSTRAINT invocations_key PRIMARY KEY (project_id, function_name, started_ms, id)
) /* without rowid */;
INSERT INTO invocations (project_id, function_name, started_ms, id, function_id,
    version, trace_id, duration_us, instantiate_us, peak_memory, outcome, http_status,
    error, logs_dropped)
SELECT project_id, function_name, started_ms, id, function_id, version, trace_id,
    duration_us, instantiate_us, peak_memory, outcome, http_status, error, logs_dropped
FROM invocations_before_26;
DROP TABLE invocations_before_26;

-- Log lines can be long (a row of a table without rowid should be small),
-- so they keep their rowid: the key (in the order every read of a
-- function's lines goes) and the by-trace index beside it, three B-trees
-- instead of four.
ALTER TABLE log_lines RENAME TO log_lines_before_26;
DROP INDEX log_lines_by_function;
DROP INDEX log_lines_by_trace;
CREATE TABLE log_lines (
    project_id     TEXT NOT NULL,
    function_name  TEXT NOT NULL,
    time_ms        BIGINT NOT NULL,
    invocation_id  TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    trace_id       TEXT NOT NULL,
    stream         TEXT NOT NULL,
    level          TEXT,
    line           TEXT NOT NULL,
    CONSTRAINT log_lines_key PRIMARY KEY (project_id, function_name, time_ms, invocation_id, seq)
);
INSERT INTO log_lines (project_id, function_name, time_ms, invocation_id, seq,
    trace_id, stream, level, line)
SELECT project_id, function_name, time_ms, invocation_id, seq, trace_id, stream, level, line
FROM log_lines_before_26;
DROP TABLE log_lines_before_26;
CREATE INDEX log_lines_by_trace ON log_lines (project_id, trace_id, time_ms);
