-- When a machine's agent last stopped cleanly (it tells the server), so the
-- machine shows offline at once instead of after the online window. 0: never.
-- Keep it in step with ../postgres/00006_machine_stopped.sql.

-- +goose Up
ALTER TABLE machines ADD COLUMN stopped_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE machines DROP COLUMN stopped_at;
