package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/loadgen"
	"github.com/intelliflow/platform/internal/pgtest"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/redistest"
)

var (
	usersLoginRates   = flag.String("users.login-rates", "10,30,60", "BenchmarkUsers: logins per second")
	usersProfileRates = flag.String("users.profile-rates", "1000,3000", "BenchmarkUsers: profile reads per second")
	usersDuration     = flag.Duration("users.duration", 10*time.Second, "BenchmarkUsers: how long each rate runs")
)

// BenchmarkUsers measures token issue (a login: Argon2id check, token
// signed, refresh token stored) and profile reads through the Redis cache,
// on the users binary with PostgreSQL and Redis on the same machine
// (make bench runs it):
//
//	go test ./apps/users -run XXX -bench Users -benchtime 1x
//
// The seed wants both under 50 ms at p95 and a cache hit ratio above 90 %.
func BenchmarkUsers(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	bins := proctest.Build(b, false, ".", proctest.LoadgenPackage)
	pg := pgtest.Start(b)
	redisAddr, _ := redistest.Start(b)
	dir := b.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			b.Fatal(err)
		}
		return p
	}
	users := proctest.Start(b, 2, "/.well-known/jwks.json", `"kty":"OKP"`, func(ports []int) *exec.Cmd {
		cmd := exec.Command(bins["."])
		cmd.Env = proctest.Env(map[string]string{
			"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1]), "SHUTDOWN_DRAIN": "10ms",
			"LOG_LEVEL": "error", "DEBUG_PPROF": strconv.FormatBool(proctest.Profiling()), "DATABASE_HOST": pg.Host, "DATABASE_PORT": strconv.Itoa(pg.Port), "DATABASE_NAME": "postgres",
			"DATABASE_SSLMODE": "disable", "DATABASE_USER": pg.Superuser, "DATABASE_PASSWORD": "trusted", "DATABASE_MAX_CONNS": "20",
			"REDIS_ADDR": redisAddr, "JWT_SIGNING_KEY_FILE": write("key", "bench-signing-secret-0123456789abcdef0123"),
			// The benchmark logs in far more often than a person would.
			"LOGIN_ATTEMPTS_PER_ACCOUNT": "10000", "LOGIN_ATTEMPTS_PER_IP": "100000",
		})
		return cmd
	})
	metrics := users.URLOf(1) + "/metrics"

	// 1,000 accounts whose profiles the reads go through.
	var profiles []string
	for i := range 1000 {
		body := fmt.Sprintf(`{"email":"bench%d@users.example","password":"a long bench password","name":"Bench %d"}`, i, i)
		resp, err := http.Post(users.URL+"/v1/auth/register", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := regexp.MustCompile(`"id":"([^"]+)"`).FindSubmatch(out)
		if id == nil {
			b.Fatalf("register: %s", out)
		}
		profiles = append(profiles, users.URL+"/v1/users/"+string(id[1]))
	}
	urls := write("urls", strings.Join(profiles, "\n"))
	cache := func() (hit, miss float64) {
		resp, err := http.Get(metrics)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		read := func(result string) float64 {
			m := regexp.MustCompile(`users_profile_cache_requests_total\{result="` + result + `"\} (\S+)`).FindSubmatch(out)
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			return v
		}
		return read("hit"), read("miss")
	}

	for b.Loop() {
		for _, rate := range strings.Split(*usersLoginRates, ",") {
			proctest.Settle(b, users)
			cpu := users.CPU(b)
			var rep loadgen.Report
			proctest.Profile(b, users.URLOf(1), "users-login-"+rate, *usersDuration, func() {
				rep = proctest.Load(b, bins[proctest.LoadgenPackage], "-url", users.URL+"/v1/auth/login", "-method", "POST",
					"-body", `{"email":"bench1@users.example","password":"a long bench password"}`, "-expect", "access_token", "-rate", rate, "-duration", usersDuration.String())
			})
			b.Logf("login %4s/s: %s; CPU %.1f ms per login", rate, rep, float64((users.CPU(b)-cpu).Microseconds())/1000/float64(max(rep.Sent, 1)))
			b.ReportMetric(rep.LatencyMS.P95, "login-"+rate+"-p95-ms")
		}
		for _, rate := range strings.Split(*usersProfileRates, ",") {
			proctest.Settle(b, users)
			hit0, miss0 := cache()
			cpu := users.CPU(b)
			var rep loadgen.Report
			proctest.Profile(b, users.URLOf(1), "users-profile-"+rate, *usersDuration, func() {
				rep = proctest.Load(b, bins[proctest.LoadgenPackage], "-urls", urls, "-header", identity.SubjectHeader+": bench-admin",
					"-header", identity.RoleHeader+": admin", "-expect", `"email"`, "-rate", rate, "-duration", usersDuration.String())
			})
			hit, miss := cache()
			ratio := (hit - hit0) / max(1, hit-hit0+miss-miss0)
			b.Logf("profile %4s/s: %s; cache hit ratio %.1f %%; CPU %.0f µs per read", rate, rep, 100*ratio, float64((users.CPU(b)-cpu).Microseconds())/float64(max(rep.Sent, 1)))
			b.ReportMetric(rep.LatencyMS.P95, "profile-"+rate+"-p95-ms")
			b.ReportMetric(100*ratio, "profile-"+rate+"-hit-%")
		}
	}
}
