-- +goose Up
-- Money is integer minor units of the account's ISO 4217 currency; a
-- balance never goes below zero (the check is the last guard behind the
-- service's own).
CREATE TABLE accounts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id   text NOT NULL,
    currency   char(3) NOT NULL,
    balance    bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_owner ON accounts (owner_id);

CREATE TABLE transactions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('payment', 'transfer', 'deposit')),
    account_id      uuid NOT NULL REFERENCES accounts (id),
    to_account_id   uuid REFERENCES accounts (id),
    merchant_id     text,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL,
    status          text NOT NULL CHECK (status IN ('approved', 'held', 'declined')),
    fraud_checked   boolean NOT NULL,
    fraud_score     double precision,
    fraud_decision  text,
    fraud_model     text,
    reason          text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (account_id IS DISTINCT FROM to_account_id)
);
CREATE INDEX transactions_account ON transactions (account_id, created_at DESC, id DESC);
CREATE INDEX transactions_to_account ON transactions (to_account_id, created_at DESC, id DESC) WHERE to_account_id IS NOT NULL;

-- A client's Idempotency-Key and the answer it got: the same key and
-- request get the same answer again, another request under the key a 422.
CREATE TABLE idempotency_keys (
    owner_id        text NOT NULL,
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    status          integer NOT NULL,
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, key)
);

-- Events written with the change they describe, published to Kafka by the
-- relay and marked sent.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    key        text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE idempotency_keys;
DROP TABLE transactions;
DROP TABLE accounts;
