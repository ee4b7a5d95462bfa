package envconfig

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEveryBadValueIsReportedWithItsKey(t *testing.T) {
	r := New(env(map[string]string{
		"PORT": "http", "RATE": "-3", "ON": "yes", "WAIT": "soon", "LEVEL": "loud", "P": "1.5",
	}))
	r.Int("PORT", 8080, 1, 65535)
	r.Int("RATE", 10, 1, 1000)
	r.Bool("ON", false)
	r.Duration("WAIT", time.Second)
	r.Level("LEVEL", slog.LevelInfo)
	r.Float("P", 0.5, 0, 1)
	r.Required("NEEDED")
	err := r.Err()
	for _, want := range []string{`PORT: "http" is not a whole number from 1 to 65535`, `RATE: "-3"`, `ON: "yes" is not true or false`,
		`WAIT: "soon" is not a positive duration`, `LEVEL: "loud"`, `P: "1.5" is not a number from 0 to 1`, "NEEDED: required"} {
		require.ErrorContains(t, err, want)
	}
}

func TestDefaults(t *testing.T) {
	r := New(env(nil))
	require.Equal(t, 8080, r.Int("PORT", 8080, 1, 65535))
	require.Equal(t, 150*time.Millisecond, r.Duration("T", 150*time.Millisecond))
	require.Equal(t, ":9090", r.Addr("METRICS_PORT", 9090), "all interfaces unless BIND_ADDRESS")
	require.Equal(t, []string{"a", "b"}, r.List("L", "a, ,b"))
	require.Equal(t, slog.LevelWarn, r.Level("LOG_LEVEL", slog.LevelWarn))
	require.NoError(t, r.Err())
}

func TestSecretsFromValueOrFileNeverShown(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "db-password")
	require.NoError(t, os.WriteFile(file, []byte("s3cret-from-vault\n"), 0o600))
	r := New(env(map[string]string{"DATABASE_PASSWORD_FILE": file, "REDIS_PASSWORD": "s3cret-in-env", "HOST": "db"}))
	require.Equal(t, "s3cret-from-vault", r.Secret("DATABASE_PASSWORD", true))
	require.Equal(t, "s3cret-in-env", r.Secret("REDIS_PASSWORD", false))
	require.Empty(t, r.Secret("SMTP_PASSWORD", false))
	r.String("HOST", "")
	require.NoError(t, r.Err())
	require.Equal(t, []string{"DATABASE_PASSWORD", "HOST", "REDIS_PASSWORD", "SMTP_PASSWORD"}, r.Keys())

	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("starting", "config", r)
	require.Contains(t, out.String(), `"DATABASE_PASSWORD":"[set]"`)
	require.Contains(t, out.String(), `"HOST":"db"`)
	require.NotContains(t, out.String(), "s3cret")

	bad := New(env(map[string]string{"A": "x", "A_FILE": file, "B_FILE": filepath.Join(dir, "missing"), "C_FILE": filepath.Join(dir, "empty")}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	bad.Secret("A", false)
	bad.Secret("B", false)
	bad.Secret("C", false)
	bad.Secret("D", true)
	err := bad.Err()
	require.ErrorContains(t, err, "A and A_FILE are both set")
	require.ErrorContains(t, err, "B_FILE: open")
	require.ErrorContains(t, err, "C_FILE: "+filepath.Join(dir, "empty")+" is empty")
	require.ErrorContains(t, err, "D: required (or D_FILE")
	require.NotContains(t, err.Error(), "s3cret")
}

func TestRotatingSecretIsReadAgain(t *testing.T) {
	file := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(file, []byte("first\n"), 0o600))
	r := New(env(map[string]string{"DATABASE_PASSWORD_FILE": file, "PLAIN": "fixed"}))
	s := r.RotatingSecret("DATABASE_PASSWORD", true)
	plain := r.RotatingSecret("PLAIN", true)
	require.NoError(t, r.Err())
	v, err := s.Value()
	require.NoError(t, err)
	require.Equal(t, "first", v)
	require.NoError(t, os.WriteFile(file, []byte("second\n"), 0o600))
	v, _ = s.Value()
	require.Equal(t, "second", v, "a renewed lease is picked up")
	v, _ = plain.Value()
	require.Equal(t, "fixed", v)
	require.NoError(t, os.Remove(file))
	_, err = s.Value()
	require.ErrorContains(t, err, "DATABASE_PASSWORD_FILE")
}
