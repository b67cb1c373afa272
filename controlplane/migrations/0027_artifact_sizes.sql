-- The size of each compiled artifact the platform wrote, beside its
-- digest: a copy of another size is refused before it is read, and a
-- download stops at it (a planted copy of gigabytes in a shared bucket
-- would otherwise be streamed to the cache's disk whole before its digest
-- refused it). NULL for artifacts recorded before; the first copy that
-- matches its digest records its size.
ALTER TABLE compiled_artifacts ADD COLUMN size_bytes BIGINT;
