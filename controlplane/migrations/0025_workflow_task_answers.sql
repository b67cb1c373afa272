-- When a task token was answered (success or failure queued for its
-- execution), epoch ms; 0 while it waits. The answer and this mark are
-- written together, so a token is answered once, and an inbox stops
-- listing it the moment the answer is accepted rather than when the
-- engine takes the answer up.
ALTER TABLE workflow_task_tokens ADD COLUMN answered_ms BIGINT NOT NULL DEFAULT 0;
