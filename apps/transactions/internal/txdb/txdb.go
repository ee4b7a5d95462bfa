// Package txdb is the transactions service's PostgreSQL store: accounts,
// transactions, the idempotency keys clients send, and the outbox of events
// written in the same database transaction as the change they describe.
package txdb

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/pgdb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the schema's goose migrations.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// MigrationTable keeps the service's migration history.
const MigrationTable = "goose_transactions"

// ErrNotFound is an account or transaction that does not exist or that
// the caller may not see.
var ErrNotFound = errors.New("not found")

// Statuses and kinds of a transaction (the events' contract names them).
const (
	Approved = events.Approved
	Held     = events.Held
	Declined = events.Declined
	Payment  = events.Payment
	Transfer = events.Transfer
	Deposit  = events.Deposit
)

// Account holds money in one currency.
type Account struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"owner_id"`
	Currency  string    `json:"currency"`
	Balance   int64     `json:"balance"`
	CreatedAt time.Time `json:"created_at"`
}

// Fraud and Transaction are the events' types: what is booked is what is
// published.
type (
	Fraud       = events.Fraud
	Transaction = events.Transaction
)

// Store reads and writes the schema.
type Store struct {
	db    *pgxpool.Pool
	topic string
}

// New wraps a migrated pool; events go to topic.
func New(db *pgxpool.Pool, topic string) *Store { return &Store{db: db, topic: topic} }

// DB is the pool, for the outbox relay.
func (s *Store) DB() *pgxpool.Pool { return s.db }

const accountColumns = "id::text, owner_id, currency, balance, created_at"

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.OwnerID, &a.Currency, &a.Balance, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	return a, err
}

// CreateAccount opens an empty account.
func (s *Store) CreateAccount(ctx context.Context, owner, currency string) (Account, error) {
	return scanAccount(s.db.QueryRow(ctx, `INSERT INTO accounts (owner_id, currency) VALUES ($1, $2) RETURNING `+accountColumns, owner, currency))
}

// Account is one account; owner "" means any (admins).
func (s *Store) Account(ctx context.Context, id, owner string) (Account, error) {
	id, ok := pgdb.UUID(id)
	if !ok {
		return Account{}, ErrNotFound
	}
	return scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 AND ($2 = '' OR owner_id = $2)`, id, owner))
}

// Accounts are an owner's accounts.
func (s *Store) Accounts(ctx context.Context, owner string) ([]Account, error) {
	rows, err := s.db.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE owner_id = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
}

const txColumns = `id::text, owner_id, kind, account_id::text, coalesce(to_account_id::text, ''), coalesce(merchant_id, ''), amount, currency,
	status, fraud_checked, fraud_score, coalesce(fraud_decision, ''), coalesce(fraud_model, ''), reason, created_at, updated_at`

func scanTx(row pgx.Row) (Transaction, error) {
	var t Transaction
	err := row.Scan(&t.ID, &t.OwnerID, &t.Kind, &t.AccountID, &t.ToAccountID, &t.MerchantID, &t.Amount, &t.Currency,
		&t.Status, &t.Fraud.Checked, &t.Fraud.Score, &t.Fraud.Decision, &t.Fraud.Model, &t.Reason, &t.CreatedAt, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Transaction{}, ErrNotFound
	}
	return t, err
}

// Transaction is one transaction the owner made or received; owner ""
// means any (admins).
func (s *Store) Transaction(ctx context.Context, id, owner string) (Transaction, error) {
	id, ok := pgdb.UUID(id)
	if !ok {
		return Transaction{}, ErrNotFound
	}
	return scanTx(s.db.QueryRow(ctx, `SELECT `+txColumns+` FROM transactions t WHERE id = $1
		AND ($2 = '' OR owner_id = $2 OR to_account_id IN (SELECT id FROM accounts WHERE owner_id = $2))`, id, owner))
}

// Cursor is where a page of an account's transactions ends.
type Cursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Encode is the cursor as an opaque token.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a token from Encode; "" is the first page.
func DecodeCursor(token string) (*Cursor, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	var c Cursor
	if err == nil && json.Unmarshal(b, &c) == nil {
		c.ID, _ = pgdb.UUID(c.ID)
	}
	if err != nil || c.ID == "" || c.At.IsZero() {
		return nil, jsonapi.Errorf(http.StatusBadRequest, "cursor: not one this service issued")
	}
	return &c, nil
}

// History pages through an account's transactions, newest first: those it
// sent and those it received.
func (s *Store) History(ctx context.Context, account string, after *Cursor, limit int) ([]Transaction, *Cursor, error) {
	account, ok := pgdb.UUID(account)
	if !ok {
		return nil, nil, ErrNotFound
	}
	at, id := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "ffffffff-ffff-ffff-ffff-ffffffffffff"
	if after != nil {
		at, id = after.At, after.ID
	}
	rows, err := s.db.Query(ctx, `SELECT `+txColumns+` FROM transactions
		WHERE (account_id = $1 OR to_account_id = $1) AND (created_at, id) < ($2, $3::uuid)
		ORDER BY created_at DESC, id DESC LIMIT $4`, account, at, id, limit)
	if err != nil {
		return nil, nil, err
	}
	page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transaction, error) { return scanTx(r) })
	if err != nil || len(page) < limit {
		return page, nil, err
	}
	last := page[len(page)-1]
	return page, &Cursor{At: last.CreatedAt, ID: last.ID}, nil
}

// ErrKeyReused is an Idempotency-Key sent again with another request.
var ErrKeyReused = jsonapi.Errorf(http.StatusUnprocessableEntity, "Idempotency-Key was used before with another request; send a new key for a new request")

// Idempotent runs do in one database transaction keyed by the owner's
// idempotency key. The first request with a key runs and its answer is
// stored with it; the same key and request hash later get that answer
// again (replayed); the same key with another hash is ErrKeyReused. A
// duplicate sent while the first runs waits for it, then replays it: of
// concurrent duplicates exactly one runs. Only successful answers are
// stored: when do fails nothing is, so the client may retry the key.
func (s *Store) Idempotent(ctx context.Context, owner, key string, hash []byte, do func(tx pgx.Tx) (status int, body any, err error)) (status int, body []byte, replayed bool, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (owner_id, key, request_hash, status, response) VALUES ($1, $2, $3, 0, '{}') ON CONFLICT DO NOTHING`,
			owner, key, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var stored []byte
			if err := tx.QueryRow(ctx, `SELECT request_hash, status, response FROM idempotency_keys WHERE owner_id = $1 AND key = $2`, owner, key).
				Scan(&stored, &status, &body); err != nil {
				return err
			}
			if string(stored) != string(hash) {
				return ErrKeyReused
			}
			replayed = true
			return nil
		}
		var v any
		if status, v, err = do(tx); err != nil {
			return err
		}
		if body, err = json.Marshal(v); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET status = $3, response = $4 WHERE owner_id = $1 AND key = $2`, owner, key, status, body)
		return err
	})
	return status, body, replayed, err
}

// Lock locks the accounts with ids, in id order so two transfers in
// opposite directions cannot deadlock, and returns them by id.
func Lock(ctx context.Context, tx pgx.Tx, ids ...string) (map[string]Account, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if id, ok := pgdb.UUID(id); ok {
			valid = append(valid, id)
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, valid)
	if err != nil {
		return nil, err
	}
	accts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, err
	}
	out := map[string]Account{}
	for _, a := range accts {
		out[a.ID] = a
	}
	return out, nil
}

// Move changes balances: debit from (if any) and credit to (if any). The
// caller holds the locks and has checked the balance; the schema's check
// refuses an overdraft anyway.
func Move(ctx context.Context, tx pgx.Tx, amount int64, from, to string) error {
	if from != "" {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance - $2 WHERE id = $1::uuid AND balance >= $2`, from, amount)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return jsonapi.Errorf(http.StatusUnprocessableEntity, "insufficient funds")
		}
	}
	if to != "" {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance + $2 WHERE id = $1::uuid`, to, amount); err != nil {
			return err
		}
	}
	return nil
}

// Insert records t and its event, and returns it as stored.
func (s *Store) Insert(ctx context.Context, tx pgx.Tx, t Transaction) (Transaction, error) {
	null := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	// A payment's id is chosen before fraud scores it (fraud's alert
	// carries it); other transactions get the database's.
	stored, err := scanTx(tx.QueryRow(ctx, `INSERT INTO transactions (id, owner_id, kind, account_id, to_account_id, merchant_id, amount, currency,
		status, fraud_checked, fraud_score, fraud_decision, fraud_model, reason)
		VALUES (COALESCE($14::uuid, gen_random_uuid()), $1, $2, $3::uuid, $4::uuid, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING `+txColumns,
		t.OwnerID, t.Kind, t.AccountID, null(t.ToAccountID), null(t.MerchantID), t.Amount, t.Currency,
		t.Status, t.Fraud.Checked, t.Fraud.Score, null(t.Fraud.Decision), null(t.Fraud.Model), t.Reason, null(t.ID)))
	if err != nil {
		return Transaction{}, err
	}
	return stored, s.event(ctx, tx, events.Created, stored)
}

// event writes an event about t to the outbox, keyed by its account so one
// account's events stay in order on one partition.
func (s *Store) event(ctx context.Context, tx pgx.Tx, typ string, t Transaction) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox (topic, key, payload)
		SELECT $1, $2, jsonb_build_object('event_id', gen_random_uuid(), 'version', $5::int, 'type', $3::text, 'occurred_at', now(), 'transaction', $4::jsonb)`,
		s.topic, t.AccountID, typ, t, events.SchemaVersion)
	return err
}

// Review settles a held transaction: approved, it reaches its destination
// (a transfer's account; a payment's funds were taken when held); declined,
// the held funds go back.
func (s *Store) Review(ctx context.Context, id string, approve bool, reviewer string) (Transaction, error) {
	var out Transaction
	id, ok := pgdb.UUID(id)
	if !ok {
		return out, ErrNotFound
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		t, err := scanTx(tx.QueryRow(ctx, `SELECT `+txColumns+` FROM transactions WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if t.Status != Held {
			return jsonapi.Errorf(http.StatusConflict, "transaction is %s, only held ones are reviewed", t.Status)
		}
		ids := []string{t.AccountID}
		if t.ToAccountID != "" {
			ids = append(ids, t.ToAccountID)
		}
		if _, err := Lock(ctx, tx, ids...); err != nil {
			return err
		}
		status, reason := Approved, "approved on review by "+reviewer
		if approve {
			err = Move(ctx, tx, t.Amount, "", t.ToAccountID)
		} else {
			status, reason = Declined, "declined on review by "+reviewer
			err = Move(ctx, tx, t.Amount, "", t.AccountID)
		}
		if err != nil {
			return err
		}
		out, err = scanTx(tx.QueryRow(ctx, `UPDATE transactions SET status = $2, reason = $3, updated_at = now() WHERE id = $1 RETURNING `+txColumns, id, status, reason))
		if err != nil {
			return err
		}
		return s.event(ctx, tx, events.Reviewed, out)
	})
	return out, err
}

// Pending is how many events wait to be published.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n)
	return n, err
}
