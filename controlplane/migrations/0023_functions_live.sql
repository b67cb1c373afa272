-- A deploy's quota check counts the live functions of the project and its
-- org (at most up to the limit): from this index alone, without reading
-- the functions' rows.
CREATE INDEX functions_live ON functions (project_id) WHERE deleted_ms IS NULL;
