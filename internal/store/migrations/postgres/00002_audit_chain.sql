-- The audit log's hash chain, prune anchors and per-machine access reports.
-- Keep it in step with ../sqlite/00002_audit_chain.sql.
--
-- Events written before this migration get their hashes on the next Open
-- (store.chainPending computes them in Go, in ID order, inside one
-- transaction), so an upgraded database verifies from its first event.

-- +goose Up
ALTER TABLE events ADD COLUMN prev_hash BYTEA NOT NULL DEFAULT '\x'::bytea;
ALTER TABLE events ADD COLUMN hash      BYTEA NOT NULL DEFAULT '\x'::bytea;

-- One row: the newest chained event. Every append locks it (SELECT … FOR
-- UPDATE), takes id + 1 as the new event's ID (not the identity sequence)
-- and hash as its prev_hash, and updates it, so events chain, and become
-- visible, in commit order: an AfterID cursor never skips an event.
CREATE TABLE audit_head (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    id   BIGINT  NOT NULL,
    hash BYTEA   NOT NULL
);
INSERT INTO audit_head (one, id, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- One row per retention prune: the last pruned event and its hash, which
-- the first remaining event names as its prev_hash.
CREATE TABLE audit_anchors (
    id        BIGINT  PRIMARY KEY,
    hash      BYTEA   NOT NULL,
    pruned_at BIGINT  NOT NULL,
    count     BIGINT  NOT NULL,
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
