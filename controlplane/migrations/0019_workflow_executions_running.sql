-- A project's running executions are counted at every start (the limit of
-- open executions): counted in this index alone, without reading the
-- rows of every project's running executions.
CREATE INDEX workflow_executions_running ON workflow_executions (project_id, status);
