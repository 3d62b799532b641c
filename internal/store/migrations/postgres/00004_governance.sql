-- Governance: scoped roles, custom roles, sessions, label-selector
-- policies, approvals. Keep in step with ../sqlite/00004_governance.sql.

-- +goose Up
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT '*';
ALTER TABLE tokens ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';

CREATE TABLE roles (
    name       TEXT    PRIMARY KEY,
    actions    TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT    NOT NULL
);

CREATE TABLE bindings (
    id         TEXT    PRIMARY KEY,
    subject    TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT    NOT NULL,
    UNIQUE (subject, role, scope)
);
CREATE INDEX bindings_subject ON bindings (subject);

-- Approval, justification and limit settings of a machine's policy.
ALTER TABLE policies ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Policies that cover every machine whose labels match a selector.
CREATE TABLE selector_policies (
    id         TEXT    PRIMARY KEY,
    selector   TEXT    NOT NULL UNIQUE,
    enabled    BOOLEAN NOT NULL,
    rules      TEXT    NOT NULL,
    settings   TEXT    NOT NULL DEFAULT '{}',
    updated_at BIGINT NOT NULL,
    updated_by TEXT    NOT NULL
);

-- The approval requirement a request was created under, when it must
-- be approved by, and a pending extension.
ALTER TABLE requests ADD COLUMN approval TEXT NOT NULL DEFAULT '{}';
ALTER TABLE requests ADD COLUMN pending_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN extend_ns BIGINT NOT NULL DEFAULT 0;

CREATE TABLE approvals (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    approver      TEXT    NOT NULL,
    approver_name TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    level         INTEGER NOT NULL,
    decision      TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    at            BIGINT NOT NULL
);
CREATE INDEX approvals_request ON approvals (request_id, id);
CREATE INDEX requests_status ON requests (status, pending_until);

-- +goose Down
DROP INDEX requests_status;
DROP TABLE approvals;
ALTER TABLE requests DROP COLUMN extend_ns;
ALTER TABLE requests DROP COLUMN pending_until;
ALTER TABLE requests DROP COLUMN approval;
DROP TABLE selector_policies;
ALTER TABLE policies DROP COLUMN settings;
DROP TABLE bindings;
DROP TABLE roles;
ALTER TABLE tokens DROP COLUMN groups;
ALTER TABLE tokens DROP COLUMN user_name;
ALTER TABLE tokens DROP COLUMN scope;
ALTER TABLE tokens DROP COLUMN kind;
