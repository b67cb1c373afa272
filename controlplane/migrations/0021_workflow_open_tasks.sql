-- What each open task token waits on (its Task state, resource and input,
-- and since when), so that an inbox lists a workflow's open tasks from
-- these rows alone rather than from every running execution's history.
-- Tokens opened before this migration keep the defaults.
ALTER TABLE workflow_task_tokens ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE workflow_task_tokens ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE workflow_task_tokens ADD COLUMN input_json TEXT NOT NULL DEFAULT 'null';
ALTER TABLE workflow_task_tokens ADD COLUMN opened_ms BIGINT NOT NULL DEFAULT 0;
