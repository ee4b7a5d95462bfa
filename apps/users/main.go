// Command users is the users service: accounts, logins with Argon2id
// passwords, short-lived EdDSA access tokens with rotating refresh tokens,
// and profiles cached in Redis. `users grant-admin EMAIL` gives an account
// the admin role (run it in the service's pod: kubectl exec).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/users/internal/api"
	"github.com/intelliflow/platform/apps/users/internal/passwords"
	"github.com/intelliflow/platform/apps/users/internal/tokens"
	"github.com/intelliflow/platform/apps/users/internal/userdb"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/pgdb"
	"github.com/intelliflow/platform/internal/ratelimit"
	"github.com/intelliflow/platform/internal/redisclient"
	"github.com/intelliflow/platform/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "users:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	env                   *envconfig.Reader
	std                   httpserver.Standard
	db                    pgdb.Config
	redis                 redisclient.Config
	signingKey            envconfig.Rotating
	previousKey           envconfig.Rotating
	keyReload             time.Duration
	issuer, audience      string
	accessTTL, refreshTTL time.Duration
	passwordMin           int
	perAccount, perIP     ratelimit.Limit
	cacheTTL              time.Duration
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r}
	c.std = httpserver.ReadStandard(r)
	c.db = pgdb.Read(r)
	c.redis = redisclient.Read(r, true)
	c.signingKey = r.RotatingSecret("JWT_SIGNING_KEY", true)
	c.previousKey = r.RotatingSecret("JWT_PREVIOUS_SIGNING_KEY", false)
	c.keyReload = r.Duration("JWT_KEY_RELOAD_INTERVAL", 30*time.Second)
	c.issuer = r.String("JWT_ISSUER", "https://api.intelliflow.example")
	c.audience = r.String("JWT_AUDIENCE", catalog.TokenAudience)
	c.accessTTL = r.Duration("ACCESS_TOKEN_TTL", 15*time.Minute)
	c.refreshTTL = r.Duration("REFRESH_TOKEN_TTL", 30*24*time.Hour)
	if c.accessTTL > time.Hour {
		r.Fail(fmt.Errorf("ACCESS_TOKEN_TTL: %s; access tokens cannot be revoked, keep them at an hour or less", c.accessTTL))
	}
	c.passwordMin = r.Int("PASSWORD_MIN_LENGTH", 12, 8, 128)
	c.perAccount = ratelimit.Limit{Count: r.Int("LOGIN_ATTEMPTS_PER_ACCOUNT", 10, 1, 10000), Per: 15 * time.Minute}
	c.perIP = ratelimit.Limit{Count: r.Int("LOGIN_ATTEMPTS_PER_IP", 100, 1, 100000), Per: 15 * time.Minute}
	c.cacheTTL = r.Duration("PROFILE_CACHE_TTL", 5*time.Minute)
	return c, r.Err()
}

// keys reads the signing keys as they are now.
func (c config) keys() (tokens.Key, []tokens.Key, error) {
	cur, err := c.signingKey.Value()
	if err != nil {
		return tokens.Key{}, nil, err
	}
	current, err := tokens.ParseKey([]byte(cur))
	if err != nil {
		return tokens.Key{}, nil, fmt.Errorf("JWT_SIGNING_KEY: %w", err)
	}
	prev, err := c.previousKey.Value()
	if err != nil || prev == "" {
		return current, nil, err
	}
	previous, err := tokens.ParseKey([]byte(prev))
	if err != nil {
		return tokens.Key{}, nil, fmt.Errorf("JWT_PREVIOUS_SIGNING_KEY: %w", err)
	}
	return current, []tokens.Key{previous}, nil
}

// run is the service (or, with args, one of its commands). listening, when
// given, receives the bound API and metrics addresses (tests use them).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, listening chan<- string) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := cfg.std.Logger(stdout)
	db, err := pgdb.Open(ctx, cfg.db)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := pgdb.Migrate(ctx, db, userdb.Migrations(), userdb.MigrationTable, log); err != nil {
		return err
	}
	store := userdb.New(db)
	if len(args) > 0 {
		return command(ctx, store, args, stdout)
	}
	log.Info("starting", "config", cfg.env)

	current, previous, err := cfg.keys()
	if err != nil {
		return err
	}
	issuer, err := tokens.NewIssuer(current, previous, cfg.issuer, cfg.audience, cfg.accessTTL)
	if err != nil {
		return err
	}
	go reloadKeys(ctx, cfg, issuer, log)
	rdb := redisclient.New(cfg.redis)
	defer rdb.Close()

	reg := httpserver.NewRegistry()
	httpMetrics := telemetry.NewHTTP(reg, catalog.Users).WithAccessLog(log)
	a, err := api.New(api.Config{
		Store: store, Tokens: issuer, Redis: rdb, Limiter: ratelimit.New(rdb), Metrics: api.NewMetrics(reg), HTTP: httpMetrics, Log: log,
		Passwords: passwords.Default, PasswordMinLength: cfg.passwordMin, RefreshTTL: cfg.refreshTTL, CacheTTL: cfg.cacheTTL,
		PerAccount: cfg.perAccount, PerIP: cfg.perIP,
	})
	if err != nil {
		return err
	}
	go purgeExpired(ctx, store, log)
	// Ready while PostgreSQL answers; without Redis logins go on (no cache,
	// rate limits allow), so it is not a condition.
	health := httpserver.NewHealth(func(ctx context.Context) error { return db.Ping(ctx) })
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: a.Handler(), Registry: reg, Health: health, HTTP: httpMetrics,
		Log:       log,
		Listening: httpserver.Announce(listening),
	})
	log.Info("stopped")
	return err
}

// reloadKeys picks up a rotation: the agent re-renders the key files.
func reloadKeys(ctx context.Context, cfg config, issuer *tokens.Issuer, log *slog.Logger) {
	t := time.NewTicker(cfg.keyReload)
	defer t.Stop()
	ids := issuer.KeyIDs()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		current, previous, err := cfg.keys()
		if err != nil {
			log.Error("signing keys unreadable; keeping the ones in use", "error", err.Error())
			continue
		}
		if err := issuer.SetKeys(current, previous); err != nil {
			log.Error("signing keys refused; keeping the ones in use", "error", err.Error())
			continue
		}
		if now := issuer.KeyIDs(); !slices.Equal(now, ids) {
			log.Info("signing keys rotated", "kids", now)
			ids = now
		}
	}
}

// purgeExpired deletes long-expired refresh tokens hourly.
func purgeExpired(ctx context.Context, store *userdb.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := store.PurgeExpired(ctx); err != nil {
				log.Warn("purge of expired refresh tokens failed", "error", err.Error())
			} else if n > 0 {
				log.Info("expired refresh tokens purged", "count", n)
			}
		}
	}
}

// command runs one of the service's commands against its database.
func command(ctx context.Context, store *userdb.Store, args []string, stdout io.Writer) error {
	switch {
	case len(args) == 2 && args[0] == "grant-admin":
		u, err := store.SetRole(ctx, args[1], identity.RoleAdmin)
		if errors.Is(err, userdb.ErrNotFound) {
			return fmt.Errorf("grant-admin: no account with email %q", args[1])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) is an admin\n", u.Email, u.ID)
		return nil
	}
	return fmt.Errorf("unknown command %q; the one command is: users grant-admin EMAIL", args)
}
