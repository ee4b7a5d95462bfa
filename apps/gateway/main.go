// Command gateway is the API gateway, the platform's only public entry: it
// verifies access tokens against the users service's published keys, limits
// requests per caller and per client address, and proxies /auth and /api to
// the services.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/gateway/internal/edge"
	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/ratelimit"
	"github.com/intelliflow/platform/internal/redisclient"
	"github.com/intelliflow/platform/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// config is read from the environment once; apps/catalog names the keys.
type config struct {
	env              *envconfig.Reader
	std              httpserver.Standard
	redis            redisclient.Config
	upstreams        map[string]*url.URL
	jwksURL          string
	jwksRefresh      time.Duration
	unknownKID       time.Duration
	issuer, audience string
	perMinute        int
	proxies          edge.Proxies
	corsOrigins      []string
	timeout          time.Duration
}

func readConfig(getenv func(string) string) (config, error) {
	r := envconfig.New(getenv)
	c := config{env: r, upstreams: map[string]*url.URL{}}
	c.std = httpserver.ReadStandard(r)
	c.redis = redisclient.Read(r, true)
	svc, _ := catalog.Get(catalog.Gateway)
	for _, peer := range svc.Calls {
		key := strings.ToUpper(peer) + "_URL"
		raw := r.String(key, "")
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail(fmt.Errorf("%s: %q is not an http(s) URL", key, raw))
			continue
		}
		c.upstreams[peer] = u
	}
	for _, rt := range edge.Routes {
		key := strings.ToUpper(rt.Service) + "_URL"
		if _, ok := c.upstreams[rt.Service]; !ok && !slices.Contains(r.RequiredKeys(), key) {
			r.Fail(fmt.Errorf("%s: required (the route %s reaches %s)", key, rt.Prefix, rt.Service))
		}
		r.Require(key)
	}
	def := ""
	if u, ok := c.upstreams[catalog.Users]; ok {
		def = u.JoinPath("/.well-known/jwks.json").String()
	}
	c.jwksURL = r.String("JWKS_URL", def)
	c.jwksRefresh = r.Duration("JWKS_REFRESH_INTERVAL", 5*time.Minute)
	c.unknownKID = r.Duration("JWKS_UNKNOWN_KID_INTERVAL", time.Minute)
	c.issuer = r.Required("JWT_ISSUER")
	c.audience = r.String("JWT_AUDIENCE", catalog.TokenAudience)
	// 0 turns the gateway's limits off (the ingress still limits per client).
	c.perMinute = r.Int("RATE_LIMIT_PER_MINUTE", 1000, 0, 100_000_000)
	proxies, err := edge.ParseProxies(r.List("TRUSTED_PROXY_CIDRS", ""))
	if err != nil {
		r.Fail(fmt.Errorf("TRUSTED_PROXY_CIDRS: %w", err))
	}
	c.proxies = proxies
	c.corsOrigins = r.List("CORS_ALLOWED_ORIGINS", "")
	for _, o := range c.corsOrigins {
		if !strings.HasPrefix(o, "https://") {
			r.Fail(fmt.Errorf("CORS_ALLOWED_ORIGINS: %q; only https origins", o))
		}
	}
	c.timeout = r.Duration("REQUEST_TIMEOUT", 10*time.Second)
	return c, r.Err()
}

// run is the gateway. listening, when given, receives the bound API and
// metrics addresses (tests use them).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, listening chan<- string) error {
	cfg, err := readConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := cfg.std.Logger(stdout)
	log.Info("starting", "config", cfg.env)
	keysCtx, stopKeys := context.WithCancel(context.Background())
	defer stopKeys()
	// The key set is fetched at start and every JWKS_REFRESH_INTERVAL; a
	// token with a kid it lacks (a rotation) fetches it again at most once
	// per JWKS_UNKNOWN_KID_INTERVAL. Past that rate an unknown kid is
	// refused at once (the limiter never waits beyond its deadline, which
	// also bounds the fetch).
	keys := fetchKeys(keysCtx, cfg, log)
	rdb := redisclient.New(cfg.redis)
	defer rdb.Close()
	// Ready once tokens can be verified: without keys every call would be
	// refused. Redis is not a condition (rate limits then allow).
	ready := func(context.Context) error {
		if keys.get() == nil {
			return errors.New("no access-token keys from " + cfg.jwksURL + " yet")
		}
		return nil
	}

	reg := httpserver.NewRegistry()
	httpMetrics := telemetry.NewHTTP(reg, catalog.Gateway).WithAccessLog(log)
	g, err := edge.New(edge.Config{
		Upstreams: cfg.upstreams, Keys: keys.Keyfunc, Issuer: cfg.issuer, Audience: cfg.audience,
		Limiter: ratelimit.New(rdb), Limit: ratelimit.Limit{Count: cfg.perMinute, Per: time.Minute}, Proxies: cfg.proxies,
		Timeout: cfg.timeout, CORSOrigins: cfg.corsOrigins, Registry: reg, HTTP: httpMetrics, Log: log, Ready: ready,
	})
	if err != nil {
		return err
	}
	err = httpserver.Run(ctx, httpserver.Config{
		Standard: cfg.std, Handler: g.Handler(), Registry: reg, Health: httpserver.NewHealth(ready),
		HTTP: httpMetrics, Log: log, WriteTimeout: cfg.timeout + 5*time.Second,
		Listening: httpserver.Announce(listening),
	})
	log.Info("stopped")
	return err
}
