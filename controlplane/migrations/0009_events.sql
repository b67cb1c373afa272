-- Events: rules, the deliveries they owe, and dead letters.

-- A rule routes the events of its sources that match its pattern to its
-- targets. Its parts are JSON validated by the API before they are stored.
CREATE TABLE event_rules (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id),
    name             TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    enabled          BIGINT NOT NULL,
    sources_json     TEXT NOT NULL,
    pattern_json     TEXT NOT NULL,
    targets_json     TEXT NOT NULL,
    retry_json       TEXT NOT NULL,
    dead_letter_json TEXT NOT NULL,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Every change to rules bumps this row, so nodes notice others' changes.
CREATE TABLE event_rules_generation (
    id          BIGINT PRIMARY KEY,
    generation  BIGINT NOT NULL
);
INSERT INTO event_rules_generation (id, generation) VALUES (1, 0);

-- The durable bus: one row per (event, rule, target) owed a delivery,
-- written before the event is acknowledged and deleted once the target
-- succeeded or the delivery became a dead letter. A node leases the rows it
-- works on; rows whose lease ran out (their node died) are claimed by
-- another, or by the same node after a restart (its id is kept in its data
-- folder).
CREATE TABLE event_deliveries (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    rule_id      TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_json   TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    accepted_ms  BIGINT NOT NULL,
    due_ms       BIGINT NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    lease_owner  TEXT NOT NULL,
    lease_ms     BIGINT NOT NULL,
    claim        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX event_deliveries_lease ON event_deliveries (lease_ms);
CREATE INDEX event_deliveries_owner ON event_deliveries (lease_owner, claim);

-- Deliveries that ran out of attempts or age; listable and replayable.
CREATE TABLE dead_letters (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    rule_id      TEXT NOT NULL,
    rule_name    TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_json   TEXT NOT NULL,
    error        TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    accepted_ms  BIGINT NOT NULL,
    created_ms   BIGINT NOT NULL
);
CREATE INDEX dead_letters_project ON dead_letters (project_id, created_ms, id);
