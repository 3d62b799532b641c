-- The person behind a token (its owner), a request and an approval, so that
-- self-approval and quorum count people, not credentials. Empty means the
-- subject itself. Keep in step with ../sqlite/00006_owners.sql.

-- +goose Up
ALTER TABLE tokens ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN requester_person TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN approver_person TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE approvals DROP COLUMN approver_person;
ALTER TABLE requests DROP COLUMN requester_person;
ALTER TABLE tokens DROP COLUMN owner;
