-- Recursive loop detection: every delivery and dead letter carries how
-- many deliveries led to its event (0 for events from the API, NATS and
-- the platform; one more than the delivery whose handler published it), so
-- the depth of a chain survives a restart, another node and a replay.
ALTER TABLE event_deliveries ADD COLUMN hops BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN hops BIGINT NOT NULL DEFAULT 0;
