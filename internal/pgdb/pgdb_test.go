package pgdb

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/pgtest"
)

// config points at a test server as the given user, with the credentials
// in files as the Vault Agent renders them.
func config(t *testing.T, srv pgtest.Server, user, password string) (Config, string, string) {
	t.Helper()
	dir := t.TempDir()
	userFile, passFile := filepath.Join(dir, "user"), filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(userFile, []byte(user), 0o600))
	require.NoError(t, os.WriteFile(passFile, []byte(password), 0o600))
	env := map[string]string{"DATABASE_HOST": srv.Host, "DATABASE_PORT": strconv.Itoa(srv.Port), "DATABASE_NAME": "postgres",
		"DATABASE_USER_FILE": userFile, "DATABASE_PASSWORD_FILE": passFile, "DATABASE_SSLMODE": "disable", "DATABASE_MAX_CONNS": "4"}
	r := envconfig.New(func(k string) string { return env[k] })
	c := Read(r)
	require.NoError(t, r.Err())
	return c, userFile, passFile
}

func TestReadRefusesBadSettings(t *testing.T) {
	env := map[string]string{"DATABASE_PORT": "five", "DATABASE_SSLMODE": "prefer", "DATABASE_MAX_CONNS": "0", "DATABASE_CA_FILE": "/nonexistent"}
	r := envconfig.New(func(k string) string { return env[k] })
	Read(r)
	for _, want := range []string{"DATABASE_HOST: required", `DATABASE_PORT: "five"`, "DATABASE_USER: required", "DATABASE_PASSWORD: required",
		`DATABASE_SSLMODE: "prefer"`, `DATABASE_MAX_CONNS: "0"`, "DATABASE_CA_FILE: open /nonexistent"} {
		require.ErrorContains(t, r.Err(), want)
	}
}

// TestMigrateOnceUnderConcurrentStarts: four replicas starting together
// apply each migration once, and a restart applies nothing.
func TestMigrateOnceUnderConcurrentStarts(t *testing.T) {
	srv := pgtest.Start(t)
	c, _, _ := config(t, srv, srv.Superuser, "trust-auth-ignores-it")
	ctx := context.Background()
	pool, err := Open(ctx, c)
	require.NoError(t, err)
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Migrate(ctx, pool, os.DirFS("testdata/migrations"), "goose_test", log)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var applied int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM goose_test WHERE version_id > 0").Scan(&applied))
	require.Equal(t, 2, applied)
	_, err = pool.Exec(ctx, "INSERT INTO test_accounts (owner, balance) VALUES ('a', -1)")
	require.ErrorContains(t, err, "check constraint", "the second migration ran")
	require.NoError(t, Migrate(ctx, pool, os.DirFS("testdata/migrations"), "goose_test", log))
}

// TestNewConnectionsReadRotatedCredentials: when Vault's agent renders a
// new user and password, connections made after that use them.
func TestNewConnectionsReadRotatedCredentials(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	admin := srv.Connect(t, srv.Superuser, "", "postgres")
	for _, u := range []string{"lease_one", "lease_two"} {
		_, err := admin.Exec(ctx, "CREATE ROLE "+u+" LOGIN PASSWORD 'pw-"+u+"'")
		require.NoError(t, err)
	}
	c, userFile, passFile := config(t, srv, "lease_one", "pw-lease_one")
	pool, err := Open(ctx, c)
	require.NoError(t, err)
	defer pool.Close()
	var who string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_user").Scan(&who))
	require.Equal(t, "lease_one", who)

	require.NoError(t, os.WriteFile(userFile, []byte("lease_two\n"), 0o600))
	require.NoError(t, os.WriteFile(passFile, []byte("pw-lease_two\n"), 0o600))
	pool.Reset() // as MaxConnLifetime would, in time
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_user").Scan(&who))
	require.Equal(t, "lease_two", who)

	// A credential file gone (the agent not running) fails the connection
	// with the file's name, not a login error. (pgtest trusts loopback, so
	// a wrong password would not show here.)
	require.NoError(t, os.Remove(passFile))
	_, err = Open(ctx, c)
	require.ErrorContains(t, err, "DATABASE_PASSWORD_FILE")
}

func TestUUID(t *testing.T) {
	got, ok := UUID("0F8FAD5B-D9CB-469F-A165-70867728950E")
	require.True(t, ok)
	require.Equal(t, "0f8fad5b-d9cb-469f-a165-70867728950e", got)
	for _, bad := range []string{"", "42", "0f8fad5b-d9cb-469f-a165-70867728950", "{0f8fad5b-d9cb-469f-a165-70867728950e}",
		"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5bd9cb469fa16570867728950e", "' OR 1=1 --"} {
		_, ok := UUID(bad)
		require.False(t, ok, bad)
	}
}
