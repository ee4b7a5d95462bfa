// Package pgdb connects a service to PostgreSQL the way the platform runs
// it: a pgx pool of a configured size over TLS, whose new connections read
// the credentials again (in staging and prod Vault issues a database user
// per lease and the agent re-renders its files), and schema migrations
// embedded in the service, applied at start under an advisory lock so
// replicas starting together apply each once.
package pgdb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/intelliflow/platform/internal/envconfig"
)

// Config is where the database is and who the service is there.
type Config struct {
	Host     string
	Port     int
	Name     string
	User     envconfig.Rotating
	Password envconfig.Rotating
	// SSLMode is disable, require or verify-full (RDS forces TLS; verify
	// checks the server against CAs, the system's unless CAFile is set).
	SSLMode string
	CAs     *x509.CertPool
	// MaxConns bounds the pool; MaxConnLifetime retires connections well
	// within a dynamic user's lease.
	MaxConns        int
	MaxConnLifetime time.Duration
}

// Read reads DATABASE_HOST, _PORT, _NAME, _USER (or _USER_FILE),
// _PASSWORD (or _PASSWORD_FILE), _SSLMODE, _CA_FILE and _MAX_CONNS.
func Read(r *envconfig.Reader) Config {
	c := Config{
		Host:            r.Required("DATABASE_HOST"),
		Port:            r.Int("DATABASE_PORT", 5432, 1, 65535),
		Name:            r.String("DATABASE_NAME", "intelliflow"),
		User:            r.RotatingSecret("DATABASE_USER", true),
		Password:        r.RotatingSecret("DATABASE_PASSWORD", true),
		SSLMode:         r.String("DATABASE_SSLMODE", "verify-full"),
		MaxConns:        r.Int("DATABASE_MAX_CONNS", 10, 1, 500),
		MaxConnLifetime: r.Duration("DATABASE_MAX_CONN_LIFETIME", 30*time.Minute),
	}
	switch c.SSLMode {
	case "disable", "require", "verify-full":
	default:
		r.Fail(fmt.Errorf("DATABASE_SSLMODE: %q is not disable, require or verify-full", c.SSLMode))
	}
	if pem, set := r.File("DATABASE_CA_FILE"); set {
		c.CAs = x509.NewCertPool()
		if pem != nil && !c.CAs.AppendCertsFromPEM(pem) {
			r.Fail(errors.New("DATABASE_CA_FILE holds no PEM certificate"))
		}
	}
	return c
}

// Open makes the pool and checks that the database answers.
func Open(ctx context.Context, c Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, err
	}
	pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database = c.Host, uint16(c.Port), c.Name
	pc.ConnConfig.ConnectTimeout = 5 * time.Second
	switch c.SSLMode {
	case "require":
		pc.ConnConfig.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} // encrypted, not verified: the mode's meaning
	case "verify-full":
		pc.ConnConfig.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.Host, RootCAs: c.CAs}
	default:
		pc.ConnConfig.TLSConfig = nil
	}
	pc.ConnConfig.Fallbacks = nil
	pc.MaxConns = int32(c.MaxConns)
	pc.MaxConnLifetime = c.MaxConnLifetime
	pc.MaxConnLifetimeJitter = c.MaxConnLifetime / 10
	pc.HealthCheckPeriod = 30 * time.Second
	pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		user, err := c.User.Value()
		if err != nil {
			return err
		}
		pass, err := c.Password.Value()
		if err != nil {
			return err
		}
		cc.User, cc.Password = user, pass
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), err)
	}
	return pool, nil
}

// Migrate applies the migrations in fsys (goose SQL files at its root) that
// the database lacks. Each service keeps its history in its own table
// (table), and holds an advisory lock of its own while it migrates.
func Migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, table string, log *slog.Logger) error {
	h := fnv.New64a()
	_, _ = h.Write([]byte(table))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithTableName(table), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "table", table, "version", r.Source.Version, "file", r.Source.Path, "ms", r.Duration.Milliseconds())
	}
	return nil
}

// UUID is s in canonical form, and whether it is a UUID at all. Ids from
// paths and bodies are checked with it before they reach SQL, so queries
// compare the uuid column itself: comparing id::text instead reads every
// row, since no index serves the cast.
func UUID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", false
	}
	return u.String(), true
}
