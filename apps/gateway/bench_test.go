package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intelliflow/platform/internal/loadgen"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/redistest"
)

var (
	gwRates    = flag.String("gw.rates", "1000,2000,3000,5000", "BenchmarkGateway: request rates")
	gwDuration = flag.Duration("gw.duration", 10*time.Second, "BenchmarkGateway: how long each rate runs")
)

// BenchmarkGateway measures the gateway proxying a trivial backend, side
// by side in the same run with nginx proxying the same backend (what a team
// would put there instead), then with access-token verification and rate
// limiting on (make bench runs it):
//
//	go test ./apps/gateway -run XXX -bench Gateway -benchtime 1x [-gw.rates 2000,5000] [-gw.duration 10s]
//
// The backend is nginx answering a fixed JSON; the generator (cmd/loadgen)
// runs in a process of its own; all share the machine's cores.
func BenchmarkGateway(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	bins := proctest.Build(b, false, ".", proctest.LoadgenPackage)
	key := newKey(b)
	s := &signer{keys: []ed25519.PrivateKey{key}}
	jwks := s.jwks(b)
	nonce := fmt.Sprintf("nginx-%d", time.Now().UnixNano())
	// The trivial backend, and nginx proxying it (keep-alive upstream
	// connections) in a process of its own, so each one's CPU is its own.
	backendNginx := proctest.StartNginx(b, 1, "/whoami", nonce, func(ports []int) string {
		return fmt.Sprintf(`
  server {
    listen 127.0.0.1:%[1]d;
    default_type application/json;
    location = /whoami { return 200 '%[2]s'; }
    location = /.well-known/jwks.json { return 200 '%[3]s'; }
    location / { return 200 '{"id":"u1","name":"Ada","role":"customer"}'; }
  }`, ports[0], nonce, jwks)
	})
	backend := backendNginx.URL
	ngx := proctest.StartNginx(b, 1, "/whoami", nonce, func(ports []int) string {
		return fmt.Sprintf(`
  upstream backend { server %[2]s; keepalive 256; }
  server {
    listen 127.0.0.1:%[1]d;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`, ports[0], strings.TrimPrefix(backend, "http://"))
	})
	proxy := ngx.URL
	redisAddr, _ := redistest.Start(b)
	gateway := func(limit string) *proctest.Process {
		return proctest.Start(b, 2, "/api/health", `"ok"`, func(ports []int) *exec.Cmd {
			cmd := exec.Command(bins["."])
			cmd.Env = proctest.Env(map[string]string{
				"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1]), "SHUTDOWN_DRAIN": "10ms",
				"LOG_LEVEL": "error", "DEBUG_PPROF": strconv.FormatBool(proctest.Profiling()), "REDIS_ADDR": redisAddr, "JWT_ISSUER": issuer, "RATE_LIMIT_PER_MINUTE": limit,
				"USERS_URL": backend, "TRANSACTIONS_URL": backend, "ANALYTICS_URL": backend, "FRAUD_URL": backend, "ORCHESTRATOR_URL": backend,
			})
			return cmd
		})
	}
	plain := gateway("0")
	guarded := gateway("100000000")
	for b.Loop() {
		for _, rate := range strings.Split(*gwRates, ",") {
			for _, phase := range []struct {
				name    string
				p       *proctest.Process
				url     string
				auth    bool
				metrics string
			}{
				{"nginx proxy", ngx, proxy + "/.well-known/jwks.json", false, ""},
				{"gateway", plain, plain.URL + "/auth/.well-known/jwks.json", false, plain.URLOf(1)},
				{"gateway + JWT + rate limit", guarded, guarded.URL + "/api/v1/users/me", true, guarded.URLOf(1)},
			} {
				args := []string{"-url", phase.url}
				if phase.auth {
					// Tokens last a minute: a fresh one per phase.
					args = append(args, "-header", "Authorization: Bearer "+sign(b, key, "customer"))
				}
				// Warm: connections open, heap sized, pools filled; what
				// follows measures the steady state.
				proctest.Load(b, bins[proctest.LoadgenPackage], append(args, "-rate", "500", "-duration", "3s")...)
				proctest.Settle(b, backendNginx, ngx, plain, guarded)
				args = append(args, "-rate", rate, "-duration", gwDuration.String())
				cpu := phase.p.CPU(b)
				var rep loadgen.Report
				proctest.Profile(b, phase.metrics, phase.name+"-"+rate, *gwDuration, func() {
					rep = proctest.Load(b, bins[proctest.LoadgenPackage], args...)
				})
				used := phase.p.CPU(b) - cpu
				b.Logf("%-28s %6s/s: %s; proxy CPU %.0f µs per request", phase.name, rate, rep, float64(used.Microseconds())/float64(max(rep.Sent, 1)))
				b.ReportMetric(rep.GoodputRPS, strings.ReplaceAll(phase.name, " ", "")+"-"+rate+"-goodput/s")
			}
		}
	}
}
