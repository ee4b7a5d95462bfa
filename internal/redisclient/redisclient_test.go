package redisclient

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/redistest"
)

func read(env map[string]string, required bool) (Config, error) {
	r := envconfig.New(func(k string) string { return env[k] })
	c := Read(r, required)
	return c, r.Err()
}

func TestReadRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	_, err := read(map[string]string{"REDIS_ADDR": "redis", "REDIS_TLS": "yes", "REDIS_CA_FILE": notPEM}, true)
	require.ErrorContains(t, err, `REDIS_ADDR: "redis" is not host:port`)
	require.ErrorContains(t, err, `REDIS_TLS: "yes" is not true or false`)
	require.ErrorContains(t, err, "REDIS_CA_FILE holds no PEM certificate")
	require.ErrorContains(t, err, "REDIS_CA_FILE is set but REDIS_TLS is not true")
	_, err = read(nil, true)
	require.ErrorContains(t, err, "REDIS_ADDR: required")
	_, err = read(nil, false)
	require.NoError(t, err, "a service may run without Redis")
}

// TestTLSAndAuthAsElastiCache: against a Redis that accepts only TLS with
// the token, the settings from a CA file and a password file connect.
func TestTLSAndAuthAsElastiCache(t *testing.T) {
	srv := redistest.StartTLS(t, "a-valid-auth-token-1")
	pass := filepath.Join(t.TempDir(), "redis-password")
	require.NoError(t, os.WriteFile(pass, []byte(srv.Password+"\n"), 0o600))
	c, err := read(map[string]string{"REDIS_ADDR": srv.Addr, "REDIS_TLS": "true", "REDIS_CA_FILE": srv.CAFile, "REDIS_PASSWORD_FILE": pass}, true)
	require.NoError(t, err)
	rdb := New(c)
	defer rdb.Close()
	require.NoError(t, rdb.Ping(context.Background()).Err())

	c.TLS = false
	plain := New(c)
	defer plain.Close()
	require.Error(t, plain.Ping(context.Background()).Err(), "plain TCP is refused")
}

// TestCommandsEndAtTheirDeadline: with Redis stalled, a command returns
// at its context's deadline, not when Redis answers.
func TestCommandsEndAtTheirDeadline(t *testing.T) {
	addr, _ := redistest.Start(t)
	rdb := New(Config{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	require.NoError(t, rdb.Ping(ctx).Err())
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "1000", "ALL").Err())
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := rdb.Get(short, "k").Err()
	require.ErrorContains(t, err, "timeout")
	require.Less(t, time.Since(start), 500*time.Millisecond)
}
