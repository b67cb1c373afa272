-- Deleting a function is soft: the row and its versions stay for history.
-- The live name is freed (a new function may take it) by moving it aside:
-- `name` becomes `<name>~<id>` (`~` is not allowed in names), and the name
-- it had is kept in `deleted_name`.
ALTER TABLE functions ADD COLUMN deleted_ms BIGINT;
ALTER TABLE functions ADD COLUMN deleted_name TEXT;
