package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/users/internal/api"
	"github.com/intelliflow/platform/apps/users/internal/tokens"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/pgtest"
	"github.com/intelliflow/platform/internal/redistest"
	"github.com/intelliflow/platform/internal/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"))
}

const signingSecret = "test-signing-secret-0123456789abcdef0123"

type service struct {
	url     string
	metrics string
	env     map[string]string
	logs    *servicetest.Logs
	stop    func() error
}

// stores starts PostgreSQL and Redis and returns the environment the stack
// would give the service, credentials in files as the Vault Agent renders.
func stores(t *testing.T) map[string]string {
	t.Helper()
	pg := pgtest.Start(t)
	redisAddr, _ := redistest.Start(t)
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(v), 0o600))
		return p
	}
	return map[string]string{
		"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": "0", "METRICS_PORT": "0", "SHUTDOWN_DRAIN": "10ms", "LOG_LEVEL": "info",
		"DATABASE_HOST": pg.Host, "DATABASE_PORT": strconv.Itoa(pg.Port), "DATABASE_NAME": "postgres", "DATABASE_SSLMODE": "disable",
		"DATABASE_USER_FILE": write("db-user", pg.Superuser), "DATABASE_PASSWORD_FILE": write("db-password", "vault-rendered"),
		"REDIS_ADDR": redisAddr, "JWT_SIGNING_KEY_FILE": write("jwt-signing-key", signingSecret),
	}
}

func start(t *testing.T, env map[string]string) service {
	t.Helper()
	s := servicetest.Start(t, "users", func(ctx context.Context, getenv func(string) string, stdout io.Writer, listening chan<- string) error {
		return run(ctx, nil, getenv, stdout, listening)
	}, env)
	return service{url: s.API, metrics: s.Metrics, env: env, logs: s.Logs, stop: s.Stop}
}

type call struct {
	method, path, body string
	caller             *identity.Caller
	header             map[string]string
}

func (s service) do(t *testing.T, c call) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(c.method, s.url+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.caller != nil {
		req.Header.Set(identity.SubjectHeader, c.caller.Subject)
		req.Header.Set(identity.RoleHeader, c.caller.Role)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, resp.Header
}

func TestAccountsLoginsAndTokens(t *testing.T) {
	env := stores(t)
	env["LOGIN_ATTEMPTS_PER_ACCOUNT"] = "4"
	s := start(t, env)

	code, u, _ := s.do(t, call{method: "POST", path: "/v1/auth/register", body: `{"email":" Ada@Example.com ","password":"correct horse battery","name":"Ada"}`})
	require.Equal(t, 201, code, u)
	require.Equal(t, "ada@example.com", u["email"])
	require.Equal(t, "customer", u["role"])
	require.NotContains(t, u, "password_hash")
	id := u["id"].(string)
	code, out, _ := s.do(t, call{method: "POST", path: "/v1/auth/register", body: `{"email":"ada@example.com","password":"another long password","name":"Ada 2"}`})
	require.Equal(t, 409, code, out)

	code, pair, hdr := s.do(t, call{method: "POST", path: "/v1/auth/login", body: `{"email":"ADA@example.com","password":"correct horse battery"}`})
	require.Equal(t, 200, code, pair)
	require.Equal(t, "Bearer", pair["token_type"])
	require.Equal(t, "no-store", hdr.Get("Cache-Control"))
	require.InDelta(t, 900, pair["expires_in"], 2)

	// The token verifies against the published key set, with the checks
	// every verifier makes.
	key, err := tokens.ParseKey([]byte(signingSecret))
	require.NoError(t, err)
	verifier, err := tokens.NewIssuer(key, nil, "https://api.intelliflow.example", "intelliflow-api", time.Minute)
	require.NoError(t, err)
	claims, err := verifier.Verify(pair["access_token"].(string))
	require.NoError(t, err)
	require.Equal(t, id, claims.Subject)
	require.Equal(t, "customer", claims.Role)
	code, jwks, hdr := s.do(t, call{method: "GET", path: "/.well-known/jwks.json"})
	require.Equal(t, 200, code)
	require.Equal(t, "application/jwk-set+json", hdr.Get("Content-Type"))
	require.Equal(t, key.ID, jwks["keys"].([]any)[0].(map[string]any)["kid"])

	// Refresh rotates; reuse of a spent token revokes the family.
	first := pair["refresh_token"].(string)
	code, second, _ := s.do(t, call{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token":"` + first + `"}`})
	require.Equal(t, 200, code, second)
	require.NotEqual(t, first, second["refresh_token"])
	code, out, _ = s.do(t, call{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token":"` + first + `"}`})
	require.Equal(t, 401, code)
	require.Contains(t, out["error"], "already used")
	code, _, _ = s.do(t, call{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token":"` + second["refresh_token"].(string) + `"}`})
	require.Equal(t, 401, code, "the family is revoked")

	// Logout ends that login only.
	_, p1, _ := s.do(t, call{method: "POST", path: "/v1/auth/login", body: `{"email":"ada@example.com","password":"correct horse battery"}`})
	code, _, _ = s.do(t, call{method: "POST", path: "/v1/auth/logout", body: `{"refresh_token":"` + p1["refresh_token"].(string) + `"}`})
	require.Equal(t, 204, code)
	code, _, _ = s.do(t, call{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token":"` + p1["refresh_token"].(string) + `"}`})
	require.Equal(t, 401, code)

	// Profiles: the caller's own through the cache, another's is 404.
	me := &identity.Caller{Subject: id, Role: "customer"}
	for range 3 {
		code, out, _ = s.do(t, call{method: "GET", path: "/v1/users/me", caller: me})
		require.Equal(t, 200, code, out)
		require.Equal(t, "Ada", out["name"])
	}
	code, out, _ = s.do(t, call{method: "PATCH", path: "/v1/users/me", caller: me, body: `{"name":"Ada Lovelace"}`})
	require.Equal(t, 200, code, out)
	code, out, _ = s.do(t, call{method: "GET", path: "/v1/users/me", caller: me})
	require.Equal(t, 200, code, out)
	require.Equal(t, "Ada Lovelace", out["name"], "the update invalidated the cached profile")
	code, _, _ = s.do(t, call{method: "GET", path: "/v1/users/me"})
	require.Equal(t, 401, code, "no caller, no profile")
	resp, err := http.Get(s.metrics + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Three reads, an update, a read: miss, hit, hit, then miss again.
	require.Contains(t, string(metrics), `users_profile_cache_requests_total{result="hit"} 2`)
	require.Contains(t, string(metrics), `users_profile_cache_requests_total{result="miss"} 2`)
	require.Contains(t, string(metrics), `users_logins_total{result="success"} 2`)
	require.Contains(t, string(metrics), `users_token_refreshes_total{result="reused"} 1`)
	code, _, _ = s.do(t, call{method: "GET", path: "/v1/users/00000000-0000-0000-0000-000000000000", caller: me})
	require.Equal(t, 404, code)
	code, _, _ = s.do(t, call{method: "GET", path: "/v1/users", caller: me})
	require.Equal(t, 403, code, "listing is for admins")

	// An admin, made with the service's command.
	var cmdOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"grant-admin", "ada@example.com"}, func(k string) string { return env[k] }, &cmdOut, nil))
	require.Contains(t, cmdOut.String(), "ada@example.com ("+id+") is an admin")
	require.ErrorContains(t, run(context.Background(), []string{"grant-admin", "nobody@example.com"}, func(k string) string { return env[k] }, io.Discard, nil), "no account")
	admin := &identity.Caller{Subject: "someone-else", Role: "admin"}
	code, out, _ = s.do(t, call{method: "GET", path: "/v1/users?limit=10", caller: admin})
	require.Equal(t, 200, code, out)
	require.Len(t, out["users"], 1)

	// Login limits: wrong passwords count against the account; the limit
	// refuses even the right one, with Retry-After.
	for range 2 {
		code, _, _ = s.do(t, call{method: "POST", path: "/v1/auth/login", body: `{"email":"ada@example.com","password":"wrong password here"}`})
		require.Equal(t, 401, code)
	}
	code, out, hdr = s.do(t, call{method: "POST", path: "/v1/auth/login", body: `{"email":"ada@example.com","password":"correct horse battery"}`})
	require.Equal(t, 429, code, out)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	code, _, _ = s.do(t, call{method: "POST", path: "/v1/auth/login", body: `{"email":"nobody@example.com","password":"whatever it is"}`})
	require.Equal(t, 401, code, "an unknown account fails like a wrong password")

	resp, err = http.Get(s.url + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, s.stop())
	logs := s.logs.String()
	require.Contains(t, logs, `"action":"user.login"`)
	require.NotContains(t, logs, "correct horse battery", "no password in any log line")
	require.NotContains(t, logs, signingSecret)
	require.NotContains(t, logs, first, "no refresh token in any log line")
}

func TestBadInputStoresNothing(t *testing.T) {
	s := start(t, stores(t))
	for _, tt := range []struct {
		c    call
		code int
		want string
	}{
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com","password":"long enough password","name":"A","admin":true}`}, 400, `unknown field "admin"`},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com","password":"long enough password","name":"A"} {}`}, 400, "more than one value"},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com"`}, 400, "malformed JSON"},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"not-an-address","password":"long enough password","name":"A"}`}, 422, "email"},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com","password":"short","name":"A"}`}, 422, "at least 12 characters"},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com","password":"long enough password","name":""}`}, 422, "name"},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com","password":"long enough password","name":"` + strings.Repeat("n", 20<<10) + `"}`}, 413, "body larger than"},
		{call{method: "POST", path: "/v1/auth/register", body: `{"email":"a@example.com","password":"long enough password","name":"A"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "Content-Type"},
		{call{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token":"made-up"}`}, 401, "invalid"},
	} {
		code, out, _ := s.do(t, tt.c)
		require.Equal(t, tt.code, code, "%s: %v", tt.c.body[:min(len(tt.c.body), 60)], out)
		require.Contains(t, fmt.Sprint(out["error"]), tt.want)
	}
	code, _, _ := s.do(t, call{method: "POST", path: "/v1/auth/login", body: `{"email":"a@example.com","password":"long enough password"}`})
	require.Equal(t, 401, code, "nothing was registered")
}

func TestConfigErrors(t *testing.T) {
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"ACCESS_TOKEN_TTL": "24h", "PASSWORD_MIN_LENGTH": "4", "LOGIN_ATTEMPTS_PER_IP": "lots"}[k]
	}, io.Discard, nil)
	for _, want := range []string{"DATABASE_HOST: required", "DATABASE_USER: required", "REDIS_ADDR: required", "JWT_SIGNING_KEY: required",
		"ACCESS_TOKEN_TTL: 24h0m0s; access tokens cannot be revoked", `PASSWORD_MIN_LENGTH: "4"`, `LOGIN_ATTEMPTS_PER_IP: "lots"`} {
		require.ErrorContains(t, err, want)
	}
	env := stores(t)
	env["JWT_SIGNING_KEY_FILE"] = filepath.Join(t.TempDir(), "missing")
	require.ErrorContains(t, run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, nil), "JWT_SIGNING_KEY_FILE: open")
}

// TestMetricsMatchTheCatalog: the service exports every metric its catalog
// entry promises, and the HTTP metrics every service has.
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	api.NewMetrics(reg)
	servicetest.RequireCatalogMetrics(t, reg, catalog.Users)
}

// TestEnvContract pins what the service reads from its environment to
// testdata/env.golden (go test -update refreshes it); infra's tests hold
// every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}
