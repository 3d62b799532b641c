-- An explicit precedence for selector policies: among the selector policies
-- that match a machine, the highest priority wins, then the one with more
-- terms. Keep in step with ../sqlite/00006_selector_priority.sql.

-- +goose Up
ALTER TABLE selector_policies ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE selector_policies DROP COLUMN priority;
