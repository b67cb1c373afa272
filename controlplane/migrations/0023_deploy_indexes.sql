-- A deploy's quota check counts the live functions of the project and its
-- org (at most up to the limit): from this index alone, without reading
-- the functions' rows.
CREATE INDEX functions_live ON functions (project_id) WHERE deleted_ms IS NULL;

-- A deploy skips compiling bytes its org deployed before (never because
-- another org did: how fast a deploy answers must not tell one tenant
-- what another deployed): found by the component's SHA-256.
CREATE INDEX function_versions_sha ON function_versions (sha256, project_id);
