-- Platform events written in the same transaction as what they announce
-- (an object stored or removed), so that no acknowledged change loses its
-- event to a crash between the write and the bus. A pump moves them onto
-- the bus (whose delivery rows are keyed by the event's id, so a pump that
-- died after publishing and before removing them publishes nothing twice)
-- and removes them; a claim with a lease keeps nodes from pumping the same
-- rows at once.
CREATE TABLE event_outbox (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id),
    hops           BIGINT NOT NULL,
    event_json     TEXT NOT NULL,
    created_ms     BIGINT NOT NULL,
    claimed_by     TEXT NOT NULL DEFAULT '',
    claimed_until  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_outbox_claimable ON event_outbox (claimed_until, created_ms);
