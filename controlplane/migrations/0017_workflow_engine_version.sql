-- The newest engine that wrote an execution's journal. A node claims only
-- executions whose journal its own engine can read (this version or
-- older), so during a rolling upgrade an older node leaves what a newer
-- one started or advanced (new events, new definition features) to the
-- newer nodes, instead of failing it as unreadable. Rows from before this
-- column were written by engine 1.
ALTER TABLE workflow_executions ADD COLUMN engine_version BIGINT NOT NULL DEFAULT 1;
