// Package userdb is the users service's PostgreSQL store: accounts and
// refresh-token families, with the schema migrations embedded.
package userdb

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/intelliflow/platform/internal/pgdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the schema's goose migrations.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}

// MigrationTable keeps the users service's migration history.
const MigrationTable = "goose_users"

// Errors the API maps to statuses.
var (
	ErrNotFound     = errors.New("not found")
	ErrEmailTaken   = errors.New("email already registered")
	ErrTokenInvalid = errors.New("refresh token invalid, expired or revoked")
	ErrTokenReused  = errors.New("refresh token already used: every session of this login is revoked")
	ErrBadCursor    = errors.New("after: not an account id")
)

// User is an account.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Store reads and writes the users schema.
type Store struct{ db *pgxpool.Pool }

// New wraps a pool whose schema is migrated.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

const userColumns = "id::text, email, name, role, password_hash, created_at, updated_at"

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// Create adds an account; an email already registered is ErrEmailTaken.
func (s *Store) Create(ctx context.Context, email, name, passwordHash string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING `+userColumns, email, name, passwordHash))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return User{}, ErrEmailTaken
	}
	return u, err
}

// ByEmail finds an account by its (lower-case) email.
func (s *Store) ByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
}

// ByID finds an account by id; an id that is not a UUID is not found.
func (s *Store) ByID(ctx context.Context, id string) (User, error) {
	id, ok := pgdb.UUID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	return scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// Rename changes an account's display name.
func (s *Store) Rename(ctx context.Context, id, name string) (User, error) {
	id, ok := pgdb.UUID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	return scanUser(s.db.QueryRow(ctx, `UPDATE users SET name = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, id, name))
}

// SetPasswordHash replaces a hash (an upgrade to stronger parameters).
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	id, ok := pgdb.UUID(id)
	if !ok {
		return ErrNotFound
	}
	_, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	return err
}

// SetRole gives the account with email a role.
func (s *Store) SetRole(ctx context.Context, email, role string) (User, error) {
	return scanUser(s.db.QueryRow(ctx, `UPDATE users SET role = $2, updated_at = now() WHERE email = $1 RETURNING `+userColumns, email, role))
}

// List pages through accounts by id, after the cursor (an id, or "").
func (s *Store) List(ctx context.Context, after string, limit int) ([]User, error) {
	from := "00000000-0000-0000-0000-000000000000" // before every id
	if after != "" {
		var ok bool
		if from, ok = pgdb.UUID(after); !ok {
			return nil, ErrBadCursor
		}
	}
	// A uuid orders as its canonical text does (bytes as hex digits), so
	// the page order is the order of the ids clients see.
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, from, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

// hash is how a refresh token is stored: never the token itself.
func hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// StartFamily stores the first refresh token of a login.
func (s *Store) StartFamily(ctx context.Context, userID, token string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES ($1, gen_random_uuid(), $2::uuid, $3)`,
		hash(token), userID, expires)
	return err
}

// Rotate spends token and stores next in its family, returning the
// account. A token spent before revokes its family (ErrTokenReused); an
// unknown, expired or revoked one is ErrTokenInvalid.
func (s *Store) Rotate(ctx context.Context, token, next string, expires time.Time) (User, error) {
	var u User
	reused := false
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var family, userID string
		var expiresAt time.Time
		var used, revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT family_id::text, user_id::text, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
			hash(token)).Scan(&family, &userID, &expiresAt, &used, &revoked)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrTokenInvalid
		case err != nil:
			return err
		case revoked != nil || !expiresAt.After(time.Now()):
			return ErrTokenInvalid
		case used != nil:
			// Commit the revocation, then refuse.
			reused = true
			_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1::uuid AND revoked_at IS NULL`, family)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1`, hash(token)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES ($1, $2::uuid, $3::uuid, $4)`,
			hash(next), family, userID, expires); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1::uuid`, userID))
		return err
	})
	if err == nil && reused {
		return User{}, ErrTokenReused
	}
	return u, err
}

// RevokeFamily ends the login token belongs to (logout); an unknown token
// revokes nothing.
func (s *Store) RevokeFamily(ctx context.Context, token string) error {
	_, err := s.db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
		WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL`, hash(token))
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

// PurgeExpired deletes refresh tokens expired for longer than a day.
func (s *Store) PurgeExpired(ctx context.Context) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'`)
	return tag.RowsAffected(), err
}
