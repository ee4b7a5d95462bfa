package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/gateway/internal/edge"
	"github.com/intelliflow/platform/internal/accesstoken"
	"github.com/intelliflow/platform/internal/golden"
	"github.com/intelliflow/platform/internal/redistest"
	"github.com/intelliflow/platform/internal/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

const issuer = "https://api.intelliflow.test"

// start runs the gateway with env and returns its API URL.
func start(t *testing.T, env map[string]string) string {
	t.Helper()
	return servicetest.Start(t, "gateway", run, env).API
}

// signer is a users service in miniature: Ed25519 keys published as a JWK
// set, tokens signed with the current one.
type signer struct {
	mu   sync.Mutex
	keys []ed25519.PrivateKey // current first
}

func kidOf(k ed25519.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey)[:8])
}

func (s *signer) jwks(t testing.TB) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := jwkset.NewMemoryStorage()
	for _, k := range s.keys {
		jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgEdDSA, KID: kidOf(k)}})
		require.NoError(t, err)
		require.NoError(t, set.KeyWrite(context.Background(), jwk))
	}
	b, err := set.JSONPublic(context.Background())
	require.NoError(t, err)
	return b
}

func sign(t testing.TB, k ed25519.PrivateKey, role string) string {
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accesstoken.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: "u1", Audience: jwt.ClaimStrings{catalog.TokenAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}, Role: role})
	tok.Header["kid"] = kidOf(k)
	out, err := tok.SignedString(k)
	require.NoError(t, err)
	return out
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

// TestUnknownKidRefetchesAtMostOncePerInterval: after a rotation the first
// token with the new kid fetches the key set again and passes; another
// unknown kid within the interval fetches nothing and is refused at once.
func TestUnknownKidRefetchesAtMostOncePerInterval(t *testing.T) {
	first, second, stranger := newKey(t), newKey(t), newKey(t)
	s := &signer{keys: []ed25519.PrivateKey{first}}
	var fetches atomic.Int64
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/jwks.json" {
			fetches.Add(1)
			_, _ = w.Write(s.jwks(t))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer users.Close()
	redisAddr, _ := redistest.Start(t)
	gw := start(t, map[string]string{
		"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": "0", "METRICS_PORT": "0", "SHUTDOWN_DRAIN": "10ms", "REDIS_ADDR": redisAddr,
		"USERS_URL": users.URL, "TRANSACTIONS_URL": users.URL, "ANALYTICS_URL": users.URL, "FRAUD_URL": users.URL, "ORCHESTRATOR_URL": users.URL,
		"JWT_ISSUER": issuer, "JWKS_UNKNOWN_KID_INTERVAL": "1h",
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get(gw + edge.HealthPath)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond, "ready once the key set is in")
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", gw+"/api/v1/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, get(sign(t, first, "customer")))
	base := fetches.Load()

	s.mu.Lock()
	s.keys = []ed25519.PrivateKey{second, first}
	s.mu.Unlock()
	require.Equal(t, 200, get(sign(t, second, "customer")), "the new kid is fetched")
	require.Equal(t, base+1, fetches.Load())

	forged := sign(t, stranger, "admin")
	began := time.Now()
	require.Equal(t, 401, get(forged))
	require.Equal(t, 401, get(forged))
	require.Equal(t, base+1, fetches.Load(), "no second fetch within the interval")
	require.Less(t, time.Since(began), 2*time.Second, "an unknown kid does not make the request wait")
}

// TestReadyOnceUsersAnswers: a gateway started while the users service
// refuses (not up yet, or a network policy not yet applied to the new
// pod) is unready and refuses tokens, then ready within a second or so of
// the key set answering, not a refresh interval later.
func TestReadyOnceUsersAnswers(t *testing.T) {
	key := newKey(t)
	s := &signer{keys: []ed25519.PrivateKey{key}}
	var up atomic.Bool
	var fetches atomic.Int64
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if !up.Load() {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(s.jwks(t))
	}))
	defer users.Close()
	redisAddr, _ := redistest.Start(t)
	gw := start(t, map[string]string{
		"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": "0", "METRICS_PORT": "0", "SHUTDOWN_DRAIN": "10ms", "REDIS_ADDR": redisAddr,
		"USERS_URL": users.URL, "TRANSACTIONS_URL": users.URL, "ANALYTICS_URL": users.URL, "FRAUD_URL": users.URL, "ORCHESTRATOR_URL": users.URL,
		"JWT_ISSUER": issuer,
	})
	status := func(path, tok string) int {
		req, _ := http.NewRequest("GET", gw+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return fetches.Load() >= 3 }, 10*time.Second, 20*time.Millisecond, "tried again")
	require.Equal(t, http.StatusServiceUnavailable, status(edge.HealthPath, ""))
	require.Equal(t, http.StatusUnauthorized, status("/api/v1/users/me", sign(t, key, "customer")))
	up.Store(true)
	began := time.Now()
	require.Eventually(t, func() bool { return status(edge.HealthPath, "") == 200 }, 40*time.Second, 20*time.Millisecond)
	t.Logf("ready %s after the key set answered (%d fetches)", time.Since(began).Round(10*time.Millisecond), fetches.Load())
	require.Equal(t, 200, status("/api/v1/users/me", sign(t, key, "customer")))
}

func TestConfigErrors(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		return map[string]string{"USERS_URL": "users", "TRUSTED_PROXY_CIDRS": "10.0.0.0/99", "CORS_ALLOWED_ORIGINS": "http://app.example", "RATE_LIMIT_PER_MINUTE": "-1"}[k]
	}, io.Discard, nil)
	for _, want := range []string{"REDIS_ADDR: required", `USERS_URL: "users" is not an http(s) URL`, "TRANSACTIONS_URL: required", "JWT_ISSUER: required",
		"TRUSTED_PROXY_CIDRS", `CORS_ALLOWED_ORIGINS: "http://app.example"; only https origins`, `RATE_LIMIT_PER_MINUTE: "-1"`} {
		require.ErrorContains(t, err, want)
	}
}

// TestMetricsMatchTheCatalog: the gateway exports what its catalog entry
// promises and the HTTP metrics every service has.
func TestMetricsMatchTheCatalog(t *testing.T) {
	reg := prometheus.NewRegistry()
	ups := map[string]*url.URL{}
	for _, rt := range edge.Routes {
		ups[rt.Service], _ = url.Parse("http://" + rt.Service)
	}
	_, err := edge.New(edge.Config{Upstreams: ups, Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	servicetest.RequireCatalogMetrics(t, reg, catalog.Gateway)
}

// TestEnvContract pins what the service reads from its environment to
// testdata/env.golden (go test -update refreshes it); infra's tests hold
// every stack's wiring to it.
func TestEnvContract(t *testing.T) {
	cfg, _ := readConfig(func(string) string { return "" })
	golden.RequireJSON(t, "env.golden", cfg.env.Contract())
}
