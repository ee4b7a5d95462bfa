package userdb

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pgdb"
	"github.com/intelliflow/platform/internal/pgtest"
)

func store(t *testing.T) *Store {
	srv := pgtest.Start(t)
	pool := srv.Pool(t, srv.Superuser, "postgres")
	require.NoError(t, pgdb.Migrate(context.Background(), pool, Migrations(), MigrationTable, slog.New(slog.NewTextHandler(io.Discard, nil))))
	return New(pool)
}

func TestAccounts(t *testing.T) {
	s, ctx := store(t), context.Background()
	u, err := s.Create(ctx, "ada@example.com", "Ada", "$argon2id$hash")
	require.NoError(t, err)
	require.Len(t, u.ID, 36)
	require.Equal(t, "customer", u.Role)
	_, err = s.Create(ctx, "ada@example.com", "Other Ada", "$argon2id$hash")
	require.ErrorIs(t, err, ErrEmailTaken)
	_, err = s.Create(ctx, "Ada@Example.com", "Ada", "$argon2id$hash")
	require.Error(t, err, "the schema refuses an email that is not lower-case")

	got, err := s.ByEmail(ctx, "ada@example.com")
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	_, err = s.ByID(ctx, "not-a-uuid")
	require.ErrorIs(t, err, ErrNotFound)
	renamed, err := s.Rename(ctx, u.ID, "Ada Lovelace")
	require.NoError(t, err)
	require.Equal(t, "Ada Lovelace", renamed.Name)
	admin, err := s.SetRole(ctx, "ada@example.com", "admin")
	require.NoError(t, err)
	require.Equal(t, "admin", admin.Role)
	_, err = s.SetRole(ctx, "nobody@example.com", "admin")
	require.ErrorIs(t, err, ErrNotFound)
}

// TestRefreshFamilies: each refresh spends its token; a spent one presented
// again revokes the family, so neither the thief's nor the owner's next
// token works; logout revokes the family; expired tokens are refused.
func TestRefreshFamilies(t *testing.T) {
	s, ctx := store(t), context.Background()
	u, err := s.Create(ctx, "bob@example.com", "Bob", "$argon2id$hash")
	require.NoError(t, err)
	later := time.Now().Add(time.Hour)

	require.NoError(t, s.StartFamily(ctx, u.ID, "t1", later))
	got, err := s.Rotate(ctx, "t1", "t2", later)
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	_, err = s.Rotate(ctx, "t2", "t3", later)
	require.NoError(t, err)

	_, err = s.Rotate(ctx, "t1", "stolen-next", later)
	require.ErrorIs(t, err, ErrTokenReused)
	_, err = s.Rotate(ctx, "t3", "t4", later)
	require.ErrorIs(t, err, ErrTokenInvalid, "the owner's live token died with the family")
	_, err = s.Rotate(ctx, "stolen-next", "x", later)
	require.ErrorIs(t, err, ErrTokenInvalid, "nothing was issued on reuse")

	require.NoError(t, s.StartFamily(ctx, u.ID, "other-device", later))
	require.NoError(t, s.RevokeFamily(ctx, "other-device"))
	_, err = s.Rotate(ctx, "other-device", "y", later)
	require.ErrorIs(t, err, ErrTokenInvalid)
	require.NoError(t, s.RevokeFamily(ctx, "never-issued"))

	require.NoError(t, s.StartFamily(ctx, u.ID, "old", time.Now().Add(-time.Minute)))
	_, err = s.Rotate(ctx, "old", "z", later)
	require.ErrorIs(t, err, ErrTokenInvalid)

	var stored int
	require.NoError(t, s.db.QueryRow(ctx, "SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", []byte("t2")).Scan(&stored))
	require.Zero(t, stored, "tokens are stored hashed, never as issued")
}
