-- Evidence that grants were used: per target, the traffic the kernel counted
-- while it was open, as reported by the agent. Keep it in step with
-- ../sqlite/00003_target_usage.sql.
--
-- A row appears with the agent's first report on the target. packets and
-- bytes are totals over every agent run; epoch and epoch_* are what the
-- agent run that reported last had reported, so that a repeated report adds
-- nothing and a new run's counts add to the total (see drawbridge.Usage).
-- This migration depends only on 00001.

-- +goose Up
CREATE TABLE target_usage (
    target_id     TEXT    PRIMARY KEY REFERENCES targets (id) ON DELETE CASCADE,
    packets       BIGINT  NOT NULL DEFAULT 0,
    bytes         BIGINT  NOT NULL DEFAULT 0,
    first_used_at BIGINT  NOT NULL DEFAULT 0,
    last_used_at  BIGINT  NOT NULL DEFAULT 0,
    reported_at   BIGINT  NOT NULL DEFAULT 0,
    epoch         TEXT    NOT NULL DEFAULT '',
    epoch_packets BIGINT  NOT NULL DEFAULT 0,
    epoch_bytes   BIGINT  NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE target_usage;
