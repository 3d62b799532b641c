-- The audit log's hash chain, prune anchors and per-machine access reports.
-- Keep it in step with ../postgres/00002_audit_chain.sql.
--
-- Events written before this migration get their hashes on the next Open
-- (store.chainPending computes them in Go, in ID order, inside one
-- transaction), so an upgraded database verifies from its first event.

-- +goose Up
ALTER TABLE events ADD COLUMN prev_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE events ADD COLUMN hash      BLOB NOT NULL DEFAULT x'';

-- One row: the newest chained event. Every append reads it under the write
-- lock (FOR UPDATE on PostgreSQL), takes id + 1 as the new event's ID and
-- hash as its prev_hash, and updates it, so events chain and become visible
-- in commit order. id 0 with 32 zero bytes is the genesis.
CREATE TABLE audit_head (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    id   INTEGER NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO audit_head (one, id, hash) VALUES (1, 0, zeroblob(32));

-- One row per retention prune: the last pruned event and its hash, which
-- the first remaining event names as its prev_hash.
CREATE TABLE audit_anchors (
    id        INTEGER PRIMARY KEY,
    hash      BLOB    NOT NULL,
    pruned_at INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    archive   TEXT    NOT NULL DEFAULT ''
);

-- Per-machine reports (last access, last user).
CREATE INDEX targets_machine_applied ON targets (machine_id, applied_at);

-- +goose Down
DROP INDEX targets_machine_applied;
DROP TABLE audit_anchors;
DROP TABLE audit_head;
ALTER TABLE events DROP COLUMN hash;
ALTER TABLE events DROP COLUMN prev_hash;
