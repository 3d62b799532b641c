-- Drawbridge schema, SQLite dialect. Keep it in step with
-- ../postgres/00001_initial.sql: same tables, columns and indices.
--
-- Conventions: *_at columns are unix microseconds UTC, 0 for "none";
-- *_ns columns are durations in nanoseconds; labels, inventory and rules
-- are JSON text; prefixes are text in netip form; hashes are blobs.

-- +goose Up
CREATE TABLE machines (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    labels          TEXT    NOT NULL DEFAULT '{}',
    inventory       TEXT    NOT NULL DEFAULT '{}',
    enrolled_at     INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL DEFAULT 0,
    state_version   INTEGER NOT NULL DEFAULT 0,
    applied_version INTEGER NOT NULL DEFAULT 0,
    apply_error     TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE policies (
    machine_id TEXT    PRIMARY KEY REFERENCES machines (id) ON DELETE CASCADE,
    enabled    BOOLEAN NOT NULL,
    rules      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL
);

CREATE TABLE requests (
    id             TEXT    PRIMARY KEY,
    requester      TEXT    NOT NULL,
    requester_name TEXT    NOT NULL,
    justification  TEXT    NOT NULL,
    duration_ns    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    start_at       INTEGER NOT NULL DEFAULT 0,
    end_at         INTEGER NOT NULL DEFAULT 0,
    status         TEXT    NOT NULL
);
CREATE INDEX requests_created ON requests (created_at, id);
CREATE INDEX requests_requester ON requests (requester, created_at);

-- machine_id has no foreign key: a request's history outlives the machine.
-- machine_name is the machine's name when the request was made.
CREATE TABLE targets (
    id               TEXT    PRIMARY KEY,
    request_id       TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    machine_id       TEXT    NOT NULL,
    machine_name     TEXT    NOT NULL,
    port             INTEGER NOT NULL,
    protocol         TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    end_at           INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL,
    reason           TEXT    NOT NULL DEFAULT '',
    version          INTEGER NOT NULL DEFAULT 0,
    applied_at       INTEGER NOT NULL DEFAULT 0,
    apply_latency_ns INTEGER NOT NULL DEFAULT 0,
    terminate        BOOLEAN NOT NULL DEFAULT FALSE,
    terminated_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX targets_request ON targets (request_id);
CREATE INDEX targets_machine_status ON targets (machine_id, status);
CREATE INDEX targets_status_end ON targets (status, end_at);

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0,
    revoked_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE join_tokens (
    id         TEXT    PRIMARY KEY,
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    labels     TEXT    NOT NULL DEFAULT '{}'
);

-- Append-only. AUTOINCREMENT: an ID is never reused, even after the
-- newest row is gone, so AfterID cursors stay valid.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    actor_name   TEXT    NOT NULL,
    actor_source TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    result       TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    request_id   TEXT    NOT NULL DEFAULT '',
    details      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_action ON events (action, id);
CREATE INDEX events_target ON events (target, id);
CREATE INDEX events_actor ON events (actor, id);
CREATE INDEX events_request ON events (request_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE join_tokens;
DROP TABLE tokens;
DROP TABLE targets;
DROP TABLE requests;
DROP TABLE policies;
DROP TABLE machines;
