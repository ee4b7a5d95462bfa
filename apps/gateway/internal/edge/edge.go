// Package edge is the API gateway's request path: the public routes and the
// service each reaches, the verification of access tokens against the users
// service's published keys, rate limits per caller and per client address,
// CORS and security headers, and a reverse proxy that reuses connections,
// bounds every upstream call, and retries only what is safe to send twice.
package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/accesstoken"
	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/ratelimit"
	"github.com/intelliflow/platform/internal/telemetry"
)

// Route sends requests under Prefix to a service, with Prefix replaced by To.
type Route struct {
	Prefix  string
	Service string
	To      string
	// Public routes need no token (logging in, the key set).
	Public bool
	// Methods, when set, are the only ones allowed.
	Methods []string
}

// Routes are the public API. The ingress sends /api and /auth here.
var Routes = []Route{
	{Prefix: "/auth/.well-known/jwks.json", Service: catalog.Users, To: "/.well-known/jwks.json", Public: true, Methods: []string{http.MethodGet}},
	{Prefix: "/auth/", Service: catalog.Users, To: "/v1/auth/", Public: true, Methods: []string{http.MethodPost}},
	{Prefix: "/api/v1/users", Service: catalog.Users, To: "/v1/users"},
	{Prefix: "/api/v1/accounts", Service: catalog.Transactions, To: "/v1/accounts"},
	{Prefix: "/api/v1/transactions", Service: catalog.Transactions, To: "/v1/transactions"},
	{Prefix: "/api/v1/analytics/", Service: catalog.Analytics, To: "/v1/"},
	{Prefix: "/api/v1/models/", Service: catalog.Orchestrator, To: "/v1/models/"},
	{Prefix: "/api/v1/fraud/score", Service: catalog.Fraud, To: "/v1/score", Methods: []string{http.MethodPost}},
}

// HealthPath answers for the gateway itself (the delivery pipeline's
// smoke test calls it).
const HealthPath = "/api/health"

// match finds the route of a path: the longest prefix that ends on a path
// segment.
func match(path string) (Route, bool) {
	var best Route
	found := false
	for _, rt := range Routes {
		ok := strings.HasSuffix(rt.Prefix, "/") && strings.HasPrefix(path, rt.Prefix) ||
			path == rt.Prefix || strings.HasPrefix(path, rt.Prefix+"/")
		if ok && len(rt.Prefix) > len(best.Prefix) {
			best, found = rt, true
		}
	}
	return best, found
}

// Config is the gateway's dependencies and policy.
type Config struct {
	// Upstreams are the services' base URLs (the stack's <SERVICE>_URL).
	Upstreams        map[string]*url.URL
	Keys             jwt.Keyfunc
	Issuer, Audience string
	Limiter          *ratelimit.Limiter
	// Limit applies per client address and per authenticated subject; a
	// zero Count turns the limits off.
	Limit   ratelimit.Limit
	Proxies Proxies
	// Timeout bounds an upstream's answer (headers) to one request.
	Timeout     time.Duration
	CORSOrigins []string
	Registry    prometheus.Registerer
	HTTP        *telemetry.HTTP
	Log         *slog.Logger
	// Ready says whether the gateway can verify tokens.
	Ready func(ctx context.Context) error
}

// Gateway serves the public API.
type Gateway struct {
	c        Config
	buffers  bufferPool
	tokens   *accesstoken.Verifier
	proxies  map[string]http.Handler
	authFail *prometheus.CounterVec
	limited  *prometheus.CounterVec
	upstream *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// How access tokens are verified: the clock skew allowed between the users
// service and the gateway, and how many verified tokens are remembered for
// how long (accesstoken.Verifier; the TTL is well below
// JWKS_REFRESH_INTERVAL's default of 5 minutes).
const (
	tokenLeeway    = 30 * time.Second
	tokenMemory    = 50_000
	tokenMemoryTTL = 30 * time.Second
)

// bufferPool lends the proxies their copy buffers: without one,
// httputil.ReverseProxy allocates 32 KiB per request, three quarters of
// what the gateway allocated under load (BenchmarkGateway's profile).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// New builds the gateway.
func New(c Config) (*Gateway, error) {
	g := &Gateway{c: c, proxies: map[string]http.Handler{},
		tokens: accesstoken.NewVerifier(c.Keys, c.Issuer, c.Audience, tokenLeeway, tokenMemory, tokenMemoryTTL),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_auth_failures_total",
			Help: "Requests refused for their credentials, by reason."}, []string{"reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_rate_limited_total",
			Help: "Requests refused by a rate limit, by scope (client address or subject)."}, []string{"scope"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_upstream_responses_total",
			Help: "Answers from the services, by service and status code (502 and 504: none came)."}, []string{"service", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_upstream_retries_total",
			Help: "Idempotent requests sent again after a connection failure, by service."}, []string{"service"}),
	}
	c.Registry.MustRegister(g.authFail, g.limited, g.upstream, g.retries)
	for _, r := range []string{"missing", "invalid", "query_token"} {
		g.authFail.WithLabelValues(r)
	}
	for _, s := range []string{"ip", "subject"} {
		g.limited.WithLabelValues(s)
	}
	for _, rt := range Routes {
		if _, done := g.proxies[rt.Service]; done {
			continue
		}
		u, ok := c.Upstreams[rt.Service]
		if !ok {
			return nil, fmt.Errorf("no URL for %s, which a route reaches", rt.Service)
		}
		g.proxies[rt.Service] = g.proxy(rt.Service, u)
	}
	return g, nil
}

// Handler is the whole public API with its middleware.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	health := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.c.Ready(r.Context()); err != nil {
			jsonapi.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
		jsonapi.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	api := http.Handler(http.HandlerFunc(g.serve))
	if g.c.HTTP != nil {
		health = g.c.HTTP.Route(HealthPath, health)
	}
	mux.Handle("GET "+HealthPath, health)
	for _, rt := range Routes {
		h := api
		if g.c.HTTP != nil {
			// Counted per route prefix: bounded labels.
			h = g.c.HTTP.Route(rt.Prefix, h)
		}
		mux.Handle(rt.Prefix, h)
		if !strings.HasSuffix(rt.Prefix, "/") {
			mux.Handle(rt.Prefix+"/", h)
		}
	}
	c := cors.New(cors.Options{
		AllowedOrigins: g.c.CORSOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", telemetry.RequestIDHeader},
		ExposedHeaders: []string{telemetry.RequestIDHeader, "Retry-After", "Idempotent-Replayed", "Location"},
		MaxAge:         600,
	})
	return securityHeaders(c.Handler(mux))
}

// security are the headers of an API read by browsers: nothing to sniff or
// frame, HTTPS only.
var security = map[string]string{
	"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "DENY",
	"Referrer-Policy":           "no-referrer",
	"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
}

// securityHeaders sets them on every answer (a service's own are replaced
// in the proxy, so none is doubled), and no-store unless a service says
// how its answer may be cached.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range security {
			h.Set(k, v)
		}
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// queryTokenParams are where clients put tokens that end up in logs.
var queryTokenParams = []string{"access_token", "token", "jwt", "id_token"}

func (g *Gateway) refuse(w http.ResponseWriter, reason string, status int, msg string) {
	g.authFail.WithLabelValues(reason).Inc()
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	jsonapi.Write(w, status, map[string]string{"error": msg})
}

// serve authenticates, limits and forwards one request.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	rt, ok := match(r.URL.Path)
	if !ok {
		jsonapi.Write(w, http.StatusNotFound, map[string]string{"error": "no such route"})
		return
	}
	if len(rt.Methods) > 0 && !slices.Contains(rt.Methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.Methods, ", "))
		jsonapi.Write(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	q := r.URL.Query()
	for _, p := range queryTokenParams {
		if q.Has(p) {
			g.refuse(w, "query_token", http.StatusBadRequest, "a token in the query string is refused (URLs end up in logs); send it as Authorization: Bearer")
			return
		}
	}
	client := g.c.Proxies.ClientIP(r)
	var caller identity.Caller
	if !rt.Public {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			g.refuse(w, "missing", http.StatusUnauthorized, "authentication required: Authorization: Bearer <access token>")
			return
		}
		claims, err := g.tokens.Verify(strings.TrimSpace(token))
		if err != nil {
			g.refuse(w, "invalid", http.StatusUnauthorized, "invalid access token")
			g.c.Log.Info("token refused", "reason", err.Error(), "client", client, "request_id", telemetry.RequestID(r.Context()))
			return
		}
		caller = identity.Caller{Subject: claims.Subject, Role: claims.Role}
	}
	limits := []struct{ scope, key string }{{"ip", "gateway:ip:" + client}}
	if caller.Subject != "" {
		limits = append(limits, struct{ scope, key string }{"subject", "gateway:sub:" + caller.Subject})
	}
	if g.c.Limit.Count == 0 {
		limits = nil
	}
	for _, l := range limits {
		allowed, wait, err := g.c.Limiter.Allow(r.Context(), ratelimit.Rule{Key: l.key, Limit: g.c.Limit})
		if err != nil {
			g.c.Log.Warn("rate limit unavailable; allowing", "error", err.Error())
		}
		if !allowed {
			g.limited.WithLabelValues(l.scope).Inc()
			ratelimit.TooMany(w, wait)
			return
		}
	}

	// What the services trust comes only from here.
	for _, h := range identity.Headers {
		r.Header.Del(h)
	}
	r.Header.Del("Authorization")
	r.Header.Set(identity.ClientIPHeader, client)
	if caller.Subject != "" {
		r.Header.Set(identity.SubjectHeader, caller.Subject)
		r.Header.Set(identity.RoleHeader, caller.Role)
	}
	r.URL.Path = rt.To + strings.TrimPrefix(r.URL.Path, rt.Prefix)
	r.URL.RawPath = ""
	if replayable(r) && r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			jsonapi.Fail(w, jsonapi.Errorf(http.StatusRequestEntityTooLarge, "body too large or unreadable"))
			return
		}
		r.ContentLength = int64(len(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		r.Body, _ = r.GetBody()
	}
	// The service's answer says how it may be cached (no-store by default,
	// set in the proxy).
	w.Header().Del("Cache-Control")
	g.proxies[rt.Service].ServeHTTP(w, r)
}

// replayable requests may be sent twice: the idempotent methods, and a
// POST that carries an Idempotency-Key (the service answers a repeat with
// the first answer).
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// proxy forwards to one service over pooled connections.
func (g *Gateway) proxy(service string, target *url.URL) http.Handler {
	base := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: g.c.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	transport := telemetry.Transport(retrying{next: base, service: service, retries: g.retries})
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: &g.buffers,
		ModifyResponse: func(resp *http.Response) error {
			g.upstream.WithLabelValues(service, fmt.Sprint(resp.StatusCode)).Inc()
			for k := range security {
				resp.Header.Del(k)
			}
			if resp.Header.Get("Cache-Control") == "" {
				resp.Header.Set("Cache-Control", "no-store")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, msg := http.StatusBadGateway, service+" is unavailable"
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				status, msg = http.StatusGatewayTimeout, service+" did not answer in time"
			}
			g.upstream.WithLabelValues(service, fmt.Sprint(status)).Inc()
			if r.Context().Err() == nil {
				g.c.Log.Warn("upstream failed", "service", service, "error", err.Error(), "request_id", telemetry.RequestID(r.Context()))
			}
			jsonapi.Write(w, status, map[string]string{"error": msg})
		},
		ErrorLog: slog.NewLogLogger(g.c.Log.Handler(), slog.LevelWarn),
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retrying sends a replayable request once more when the connection
// failed before an answer (a pod that went away between requests). A
// timeout is never retried: the service may be working on it.
type retrying struct {
	next    http.RoundTripper
	service string
	retries *prometheus.CounterVec
}

func (t retrying) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil || !replayable(r) || r.Context().Err() != nil || isTimeout(err) {
		return resp, err
	}
	again := r.Clone(r.Context())
	if r.GetBody != nil {
		body, gerr := r.GetBody()
		if gerr != nil {
			return resp, err
		}
		again.Body = body
	} else if r.Body != nil && r.Body != http.NoBody {
		return resp, err
	}
	t.retries.WithLabelValues(t.service).Inc()
	return t.next.RoundTrip(again)
}
