-- Outbound webhooks, their deliveries (with the dead-letter records), the
-- dispatcher's cursor over the events table and the expiring-soon marks.
-- Keep in step with ../postgres/00005_webhooks.sql.

-- +goose Up
-- secret is stored as given: it is needed to sign every delivery. The API
-- never returns it after creation.
CREATE TABLE webhooks (
    id         TEXT    PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    kinds      TEXT    NOT NULL,
    format     TEXT    NOT NULL,
    allow_http BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
);

-- One notification to one webhook. body is the Notification as JSON,
-- rendered into the webhook's format and signed at each attempt.
CREATE TABLE webhook_deliveries (
    id           TEXT    PRIMARY KEY,
    webhook_id   TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    event_id     INTEGER NOT NULL DEFAULT 0,
    request_id   TEXT    NOT NULL DEFAULT '',
    body         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    next_attempt INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);

-- One row: the last event the dispatcher turned into deliveries. It starts
-- at the newest event, so an upgrade does not notify about history.
CREATE TABLE webhook_cursor (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    event_id INTEGER NOT NULL
);
INSERT INTO webhook_cursor (one, event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events;

-- A request already announced as expiring soon, per end time (an
-- extension moves the end and re-arms it).
CREATE TABLE webhook_expiring (
    request_id TEXT    NOT NULL,
    end_at     INTEGER NOT NULL,
    PRIMARY KEY (request_id, end_at)
);

-- +goose Down
DROP TABLE webhook_expiring;
DROP TABLE webhook_cursor;
DROP INDEX webhook_deliveries_webhook;
DROP INDEX webhook_deliveries_due;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
