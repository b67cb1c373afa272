-- The task tokens an execution waits for, written in the transaction that
-- journals the task's scheduling and deleted in the one that journals its
-- end: an answer to any other token is refused (TaskTimedOut), as Step
-- Functions refuses it.
CREATE TABLE workflow_task_tokens (
    token         TEXT PRIMARY KEY,
    execution_id  TEXT NOT NULL
);
CREATE INDEX workflow_task_tokens_execution ON workflow_task_tokens (execution_id);
