-- Whether a version's component is a composition (an inner component
-- with code of its own), read from its bytes at its deploy: such a
-- component never reuses instances, and a change or a load asks this
-- column instead of reading the original again. 1 or 0; NULL for
-- versions deployed before, whose original bytes are read when asked.
ALTER TABLE function_versions ADD COLUMN composed BIGINT;
