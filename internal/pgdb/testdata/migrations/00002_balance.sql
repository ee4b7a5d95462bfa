-- +goose Up
ALTER TABLE test_accounts ADD COLUMN balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0);

-- +goose Down
ALTER TABLE test_accounts DROP COLUMN balance;
