-- +goose Up
CREATE TABLE test_accounts (id bigserial PRIMARY KEY, owner text NOT NULL);

-- +goose Down
DROP TABLE test_accounts;
