package edge

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/accesstoken"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/ratelimit"
	"github.com/intelliflow/platform/internal/redistest"
)

const (
	issuer = "https://api.intelliflow.test"
	kid    = "key-1"
)

// backend records what a service received.
type backend struct {
	*httptest.Server
	last  atomic.Pointer[http.Request]
	body  atomic.Value
	calls atomic.Int64
}

func newBackend(t *testing.T, h http.HandlerFunc) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		data, _ := io.ReadAll(r.Body)
		b.body.Store(string(data))
		r.Body = io.NopCloser(strings.NewReader(string(data)))
		b.last.Store(r)
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(b.Close)
	return b
}

type rig struct {
	gw       http.Handler
	backends map[string]*backend
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey
	reg      *prometheus.Registry
}

func newRig(t *testing.T, limit ratelimit.Limit, handlers map[string]http.HandlerFunc) rig {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	addr, _ := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	rg := rig{backends: map[string]*backend{}, pub: pub, priv: priv, reg: prometheus.NewRegistry()}
	ups := map[string]*url.URL{}
	for _, s := range []string{catalog.Users, catalog.Transactions, catalog.Analytics, catalog.Fraud, catalog.Orchestrator} {
		b := newBackend(t, handlers[s])
		rg.backends[s] = b
		ups[s], _ = url.Parse(b.URL)
	}
	proxies, err := ParseProxies([]string{"127.0.0.0/8"})
	require.NoError(t, err)
	g, err := New(Config{
		Upstreams: ups, Issuer: issuer, Audience: catalog.TokenAudience,
		Keys: func(tok *jwt.Token) (any, error) {
			if tok.Header["kid"] != kid {
				return nil, fmt.Errorf("unknown kid")
			}
			return pub, nil
		},
		Limiter: ratelimit.New(rdb), Limit: limit, Proxies: proxies, Timeout: 300 * time.Millisecond,
		CORSOrigins: []string{"https://app.intelliflow.test"}, Registry: rg.reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(context.Context) error { return nil },
	})
	require.NoError(t, err)
	rg.gw = g.Handler()
	return rg
}

func (rg rig) token(t *testing.T, mutate func(*accesstoken.Claims)) string {
	now := time.Now()
	c := accesstoken.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer, Subject: "user-1", Audience: jwt.ClaimStrings{catalog.TokenAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}, Role: "customer"}
	if mutate != nil {
		mutate(&c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(rg.priv)
	require.NoError(t, err)
	return s
}

type call struct {
	method, path, token, body string
	header                    map[string]string
	remote                    string
}

func (rg rig) do(t *testing.T, c call) *httptest.ResponseRecorder {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	r.RemoteAddr = "203.0.113.9:4000"
	if c.remote != "" {
		r.RemoteAddr = c.remote
	}
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	rg.gw.ServeHTTP(w, r)
	return w
}

func TestRoutesAndIdentity(t *testing.T) {
	rg := newRig(t, ratelimit.Limit{Count: 1000, Per: time.Minute}, nil)
	tok := rg.token(t, nil)
	for _, tt := range []struct {
		method, path, service, upstreamPath string
		public                              bool
	}{
		{"POST", "/auth/login", catalog.Users, "/v1/auth/login", true},
		{"GET", "/auth/.well-known/jwks.json", catalog.Users, "/.well-known/jwks.json", true},
		{"GET", "/api/v1/users/me", catalog.Users, "/v1/users/me", false},
		{"GET", "/api/v1/users", catalog.Users, "/v1/users", false},
		{"POST", "/api/v1/transactions", catalog.Transactions, "/v1/transactions", false},
		{"GET", "/api/v1/accounts/abc/transactions", catalog.Transactions, "/v1/accounts/abc/transactions", false},
		{"GET", "/api/v1/analytics/volumes", catalog.Analytics, "/v1/volumes", false},
		{"POST", "/api/v1/models/fraud/promotions", catalog.Orchestrator, "/v1/models/fraud/promotions", false},
		{"POST", "/api/v1/fraud/score", catalog.Fraud, "/v1/score", false},
	} {
		w := rg.do(t, call{method: tt.method, path: tt.path + "?q=1", token: tok, body: `{}`, header: map[string]string{
			"X-IntelliFlow-Subject": "admin-spoof", "X-IntelliFlow-Role": "admin", "X-IntelliFlow-Client-IP": "1.1.1.1",
		}})
		require.Equal(t, 200, w.Code, "%s %s: %s", tt.method, tt.path, w.Body)
		got := rg.backends[tt.service].last.Load()
		require.Equal(t, tt.upstreamPath, got.URL.Path)
		require.Equal(t, "q=1", got.URL.RawQuery)
		require.Empty(t, got.Header.Get("Authorization"), "the token stays at the edge")
		require.Equal(t, "203.0.113.9", got.Header.Get(identity.ClientIPHeader))
		if tt.public {
			require.Empty(t, got.Header.Get(identity.SubjectHeader), "a client's own identity headers never pass")
		} else {
			require.Equal(t, "user-1", got.Header.Get(identity.SubjectHeader))
			require.Equal(t, "customer", got.Header.Get(identity.RoleHeader))
		}
		require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	}
	require.Equal(t, 404, rg.do(t, call{path: "/api/v2/anything", token: tok}).Code)
	require.Equal(t, 404, rg.do(t, call{path: "/api/v1/usersX", token: tok}).Code, "prefixes end on a segment")
	require.Equal(t, 405, rg.do(t, call{method: "GET", path: "/auth/login"}).Code)
	require.Equal(t, 200, rg.do(t, call{path: HealthPath}).Code)
}

// TestTokenAttacks: every forged or misplaced token is refused at the edge
// and no service sees the request.
func TestTokenAttacks(t *testing.T) {
	rg := newRig(t, ratelimit.Limit{Count: 1000, Per: time.Minute}, nil)
	b64 := base64.RawURLEncoding.EncodeToString
	good := rg.token(t, nil)
	payload := strings.Split(good, ".")[1]
	pubDER, err := x509.MarshalPKIXPublicKey(rg.pub)
	require.NoError(t, err)
	hmac := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": issuer, "sub": "admin", "aud": catalog.TokenAudience, "role": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	hmac.Header["kid"] = kid
	hmacToken, err := hmac.SignedString(pubDER)
	require.NoError(t, err)

	for name, tok := range map[string]string{
		"alg none":                 b64([]byte(`{"alg":"none","kid":"key-1"}`)) + "." + payload + ".",
		"HMAC with the public key": hmacToken,
		"expired":                  rg.token(t, func(c *accesstoken.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }),
		"not yet valid":            rg.token(t, func(c *accesstoken.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
		"wrong issuer":             rg.token(t, func(c *accesstoken.Claims) { c.Issuer = "https://evil.example" }),
		"wrong audience":           rg.token(t, func(c *accesstoken.Claims) { c.Audience = jwt.ClaimStrings{"other"} }),
		"garbage":                  "abc.def.ghi",
	} {
		w := rg.do(t, call{path: "/api/v1/users/me", token: tok})
		require.Equal(t, 401, w.Code, name)
		require.Contains(t, w.Header().Get("WWW-Authenticate"), "invalid_token", name)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": issuer, "sub": "u", "aud": catalog.TokenAudience, "role": "customer", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "unknown"
	unknown, _ := tok.SignedString(rg.priv)
	require.Equal(t, 401, rg.do(t, call{path: "/api/v1/users/me", token: unknown}).Code, "unknown kid")
	require.Equal(t, 401, rg.do(t, call{path: "/api/v1/users/me"}).Code, "no token")
	require.Equal(t, 401, rg.do(t, call{path: "/api/v1/users/me", header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}}).Code)
	w := rg.do(t, call{path: "/api/v1/users/me?access_token=" + good})
	require.Equal(t, 400, w.Code, "a token in the query string")
	require.Contains(t, w.Body.String(), "query string")
	require.Equal(t, 400, rg.do(t, call{path: "/auth/login?token=x", method: "POST"}).Code, "even on public routes")
	require.Zero(t, rg.backends[catalog.Users].calls.Load(), "no service saw any of them")
}

func TestRateLimitsPerClientAndSubject(t *testing.T) {
	rg := newRig(t, ratelimit.Limit{Count: 3, Per: time.Minute}, nil)
	alice := rg.token(t, nil)
	for range 3 {
		require.Equal(t, 200, rg.do(t, call{path: "/api/v1/users/me", token: alice, remote: "198.51.100.1:1"}).Code)
	}
	w := rg.do(t, call{path: "/api/v1/users/me", token: alice, remote: "198.51.100.1:1"})
	require.Equal(t, 429, w.Code)
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, 429, rg.do(t, call{path: "/api/v1/users/me", token: alice, remote: "198.51.100.2:1"}).Code, "the subject's own limit, from another address")
	bob := rg.token(t, func(c *accesstoken.Claims) { c.Subject = "user-2" })
	require.Equal(t, 200, rg.do(t, call{path: "/api/v1/users/me", token: bob, remote: "198.51.100.3:1"}).Code)

	// Through the trusted ingress (loopback here), X-Forwarded-For names the
	// client; from anyone else it is ignored.
	for range 3 {
		require.Equal(t, 200, rg.do(t, call{method: "POST", path: "/auth/login", remote: "127.0.0.1:9", header: map[string]string{"X-Forwarded-For": "192.0.2.50"}}).Code)
	}
	require.Equal(t, 429, rg.do(t, call{method: "POST", path: "/auth/login", remote: "127.0.0.1:9", header: map[string]string{"X-Forwarded-For": "192.0.2.50"}}).Code)
	require.Equal(t, 200, rg.do(t, call{method: "POST", path: "/auth/login", remote: "127.0.0.1:9", header: map[string]string{"X-Forwarded-For": "192.0.2.51"}}).Code)
	got := rg.backends[catalog.Users].last.Load().Header.Get(identity.ClientIPHeader)
	require.Equal(t, "192.0.2.51", got)
}

// TestRetriesOnlyIdempotentRequests: a service connection that dies before
// an answer is retried for GET and for a POST with an Idempotency-Key,
// never for a plain POST; a slow service is a 504, not a retry.
func TestRetriesOnlyIdempotentRequests(t *testing.T) {
	var drop atomic.Bool
	rg := newRig(t, ratelimit.Limit{Count: 1000, Per: time.Minute}, map[string]http.HandlerFunc{
		catalog.Transactions: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/transactions/slow" {
				time.Sleep(time.Second)
			}
			if drop.CompareAndSwap(true, false) {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"body":%q}`, body)
		},
	})
	tok := rg.token(t, nil)
	tx := rg.backends[catalog.Transactions]

	drop.Store(true)
	require.Equal(t, 200, rg.do(t, call{path: "/api/v1/transactions/abc", token: tok}).Code)
	require.Equal(t, int64(2), tx.calls.Load(), "GET sent again")

	drop.Store(true)
	w := rg.do(t, call{method: "POST", path: "/api/v1/transactions", token: tok, body: `{"amount":1}`, header: map[string]string{"Idempotency-Key": "k1", "Content-Type": "application/json"}})
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `{\"amount\":1}`, "the body was sent again whole")
	require.Equal(t, int64(4), tx.calls.Load())

	drop.Store(true)
	w = rg.do(t, call{method: "POST", path: "/api/v1/transactions", token: tok, body: `{"amount":1}`})
	require.Equal(t, 502, w.Code, "a POST without a key is never sent twice")
	require.Equal(t, int64(5), tx.calls.Load())

	w = rg.do(t, call{path: "/api/v1/transactions/slow", token: tok})
	require.Equal(t, 504, w.Code)
	require.Equal(t, int64(6), tx.calls.Load(), "a timeout is not retried")

	var metrics strings.Builder
	families, err := rg.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		fmt.Fprintln(&metrics, f.String())
	}
	require.Contains(t, metrics.String(), "gateway_upstream_retries_total")
}

func TestCORS(t *testing.T) {
	rg := newRig(t, ratelimit.Limit{Count: 1000, Per: time.Minute}, nil)
	w := rg.do(t, call{method: "OPTIONS", path: "/api/v1/transactions", header: map[string]string{
		"Origin": "https://app.intelliflow.test", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,idempotency-key", // as browsers send it: sorted, lower case
	}})
	require.Equal(t, 204, w.Code)
	require.Equal(t, "https://app.intelliflow.test", w.Header().Get("Access-Control-Allow-Origin"))
	w = rg.do(t, call{method: "OPTIONS", path: "/api/v1/transactions", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}})
	require.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
}
