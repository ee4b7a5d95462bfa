package vault

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pgtest"
)

// wholeStatement is how Vault's PostgreSQL plugin tells a block it must not
// split on ';' (a DO block): the word END.
var wholeStatement = regexp.MustCompile(`(?i)\bEND\b`)

// execLikeVault runs statements the way Vault's PostgreSQL plugin does: in
// one transaction, templates filled in, each statement whole if it is a
// block, otherwise split on ';'.
func execLikeVault(ctx context.Context, conn *pgx.Conn, stmts []string, vars map[string]string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	fill := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{{"+k+"}}", v)
		}
		return s
	}
	for _, stmt := range stmts {
		parts := strings.Split(stmt, ";")
		if wholeStatement.MatchString(stmt) {
			parts = []string{stmt}
		}
		for _, q := range parts {
			if q = strings.TrimSpace(q); q == "" {
				continue
			}
			if _, err := tx.Exec(ctx, fill(q)); err != nil {
				return fmt.Errorf("%s: %w", fill(q), err)
			}
		}
	}
	return tx.Commit(ctx)
}

// rdsLike starts PostgreSQL with an admin like RDS's master user: it may
// create roles and owns the database, but is not a superuser.
func rdsLike(t *testing.T) (pgtest.Server, *pgx.Conn) {
	t.Helper()
	srv := pgtest.Start(t)
	ctx := context.Background()
	super := srv.Connect(t, srv.Superuser, "", "postgres")
	for _, q := range []string{
		`CREATE ROLE vault_admin WITH LOGIN PASSWORD 'admin-pw' CREATEROLE CREATEDB`,
		`CREATE DATABASE intelliflow OWNER vault_admin`,
	} {
		_, err := super.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	return srv, srv.Connect(t, "vault_admin", "admin-pw", "intelliflow")
}

func newUser(t *testing.T, admin *pgx.Conn, role, name string) {
	t.Helper()
	err := execLikeVault(context.Background(), admin, CreationStatements(role, "intelliflow"), map[string]string{
		"name": name, "password": "pw-" + name, "expiration": time.Now().Add(time.Hour).UTC().Format("2006-01-02 15:04:05-0700"),
	})
	require.NoError(t, err, "credentials for %s on an RDS-like database", role)
}

// TestDatabaseRolesOnPostgreSQL: on a fresh database and an admin that is
// not a superuser, the first credentials create the group roles; read-write
// users create tables the owner role keeps, read-only users read them and
// nothing more, and revoking a user loses no table.
func TestDatabaseRolesOnPostgreSQL(t *testing.T) {
	srv, admin := rdsLike(t)
	ctx := context.Background()
	newUser(t, admin, DBReadWrite, "v-users-rw-1")
	newUser(t, admin, DBReadOnly, "v-fraud-ro-1")
	newUser(t, admin, DBReadWrite, "v-tx-rw-2")

	rw := srv.Connect(t, "v-users-rw-1", "pw-v-users-rw-1", "intelliflow")
	for _, q := range []string{
		`CREATE TABLE payments (id bigint PRIMARY KEY, amount numeric NOT NULL)`,
		`INSERT INTO payments VALUES (1, 10.5)`,
	} {
		_, err := rw.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	var owner string
	require.NoError(t, rw.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'payments'`).Scan(&owner))
	require.Equal(t, OwnerRole, owner, "tables belong to the owner role, not the hour-long user")
	// A table made outside the owner role is the user's own: revocation
	// must hand it over.
	_, err := rw.Exec(ctx, `SET ROLE NONE; CREATE TABLE scratch (id int)`)
	require.NoError(t, err)

	other := srv.Connect(t, "v-tx-rw-2", "pw-v-tx-rw-2", "intelliflow")
	_, err = other.Exec(ctx, `INSERT INTO payments VALUES (2, 3); ALTER TABLE payments ADD COLUMN note text`)
	require.NoError(t, err, "another read-write user writes and migrates the same tables")

	ro := srv.Connect(t, "v-fraud-ro-1", "pw-v-fraud-ro-1", "intelliflow")
	var n int
	require.NoError(t, ro.QueryRow(ctx, `SELECT count(*) FROM payments`).Scan(&n))
	require.Equal(t, 2, n, "read-only users read tables made after they were created (default privileges)")
	for _, q := range []string{`INSERT INTO payments VALUES (3, 1)`, `CREATE TABLE x (id int)`, `DELETE FROM payments`} {
		_, err := ro.Exec(ctx, q)
		require.ErrorContains(t, err, "permission denied", q)
	}

	require.NoError(t, rw.Close(ctx))
	require.NoError(t, execLikeVault(ctx, admin, RevocationStatements(), map[string]string{"name": "v-users-rw-1"}))
	var roles, tables int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = 'v-users-rw-1'`).Scan(&roles))
	require.Zero(t, roles, "revoked user is gone")
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('payments', 'scratch') AND tableowner = $1`, OwnerRole).Scan(&tables))
	require.Equal(t, 2, tables, "both tables outlive the user, owned by the owner role")
	require.NoError(t, execLikeVault(ctx, admin, RevocationStatements(), map[string]string{"name": "v-fraud-ro-1"}))
}

// TestFirstCredentialsRace: the first requests after a deploy arrive
// together (every replica's agent at once); none may fail.
func TestFirstCredentialsRace(t *testing.T) {
	srv, _ := rdsLike(t)
	const n = 4
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conns[i] = srv.Connect(t, "vault_admin", "admin-pw", "intelliflow")
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			role := []string{DBReadWrite, DBReadOnly}[i%2]
			errs[i] = execLikeVault(context.Background(), conns[i], CreationStatements(role, "intelliflow"), map[string]string{
				"name": fmt.Sprintf("v-race-%d", i), "password": "pw", "expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "request %d", i)
	}
}

// TestMonitorUserReadsStatisticsOnly: the exporter's user sees every
// session and the connection limit (what the alerts read), not the data.
func TestMonitorUserReadsStatisticsOnly(t *testing.T) {
	srv, admin := rdsLike(t)
	ctx := context.Background()
	newUser(t, admin, DBReadWrite, "v-app")
	app := srv.Connect(t, "v-app", "pw-v-app", "intelliflow")
	_, err := app.Exec(ctx, `CREATE TABLE cards (pan text)`)
	require.NoError(t, err)
	require.NoError(t, execLikeVault(ctx, admin, MonitorStatements(), map[string]string{
		"name": "v-monitor", "password": "pw-mon", "expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}))
	mon := srv.Connect(t, "v-monitor", "pw-mon", "intelliflow")
	var backends, maxConn int
	require.NoError(t, mon.QueryRow(ctx, `SELECT sum(numbackends) FROM pg_stat_database`).Scan(&backends))
	require.GreaterOrEqual(t, backends, 3, "pg_stat_database_numbackends counts every session")
	require.NoError(t, mon.QueryRow(ctx, `SELECT setting::int FROM pg_settings WHERE name = 'max_connections'`).Scan(&maxConn))
	require.Positive(t, maxConn)
	var query string
	require.NoError(t, mon.QueryRow(ctx, `SELECT query FROM pg_stat_activity WHERE usename = 'v-app'`).Scan(&query), "pg_monitor sees other users' activity")
	_, err = mon.Exec(ctx, `SELECT * FROM cards`)
	require.ErrorContains(t, err, "permission denied")
	require.NoError(t, execLikeVault(ctx, admin, RevocationStatements(), map[string]string{"name": "v-monitor"}))
}

func TestPlatformAccess(t *testing.T) {
	p := PlatformAccess{Name: "postgres-exporter", Namespace: "intelliflow-monitoring", ServiceAccount: "postgres-exporter", Database: DBMonitor, Audience: "vault"}
	require.NoError(t, p.Validate())
	require.Equal(t, "# postgres-exporter: generated by components/vault.\n\npath \"database/creds/monitor\" {\n  capabilities = [\"read\"]\n}\n", PlatformPolicy(p))
	r := PlatformAccess{Name: "redis-exporter", Namespace: "intelliflow-monitoring", ServiceAccount: "redis-exporter", KV: KVPath("prod", "redis-exporter")}
	require.Equal(t, 1, strings.Count(PlatformPolicy(r), "path "))
	require.Contains(t, PlatformPolicy(r), `path "kv/data/intelliflow/prod/redis-exporter"`)
	require.ErrorContains(t, PlatformAccess{Name: "x", Namespace: "n", ServiceAccount: "x"}.Validate(), "grants nothing")
	require.ErrorContains(t, PlatformAccess{Name: "x", Namespace: "n", ServiceAccount: "x", Database: DBReadWrite}.Validate(), "monitor only")
	require.ErrorContains(t, PlatformAccess{Name: "x", Namespace: "n", ServiceAccount: "x", KV: "intelliflow/*"}.Validate(), "literal")
}
