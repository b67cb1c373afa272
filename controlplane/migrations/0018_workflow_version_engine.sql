-- The engine that wrote a workflow version. An execution of a version is
-- stamped with the newer of its node's engine and this one, so during a
-- rolling upgrade a definition written by a newer node (with fields an
-- older engine cannot read) is run by the newer nodes only, even when an
-- older node took the request that started it. Versions from before this
-- column were written by engine 1.
ALTER TABLE workflow_versions ADD COLUMN engine_version BIGINT NOT NULL DEFAULT 1;
