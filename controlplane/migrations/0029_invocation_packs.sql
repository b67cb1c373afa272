-- Invocation records in packs: one row for the invocations of one
-- function that started in the same second and were written in the same
-- batch, their fields a JSON array each (`store/records.rs`). One row an
-- invocation was a B-tree entry and fourteen bound values each, written
-- on the core that serves the requests; a pack is one row a batch.
-- Records written before this migration stay in `invocations` and are
-- read beside the packs until they age out.
CREATE TABLE invocation_packs (
    project_id     TEXT NOT NULL,
    function_name  TEXT NOT NULL,
    started_s      BIGINT NOT NULL,
    first_id       TEXT NOT NULL,
    records        TEXT NOT NULL,
    CONSTRAINT invocation_packs_key PRIMARY KEY (project_id, function_name, started_s, first_id)
);
