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

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/intelliflow/platform/internal/identity"
	"github.com/intelliflow/platform/internal/loadgen"
	"github.com/intelliflow/platform/internal/pgtest"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/redistest"
)

var (
	txRates    = flag.String("tx.rates", "300,600,900", "BenchmarkTransactions: payments per second")
	txDuration = flag.Duration("tx.duration", 10*time.Second, "BenchmarkTransactions: how long each rate runs")
)

// BenchmarkTransactions measures POST /v1/transactions end to end (the
// idempotency key claimed, accounts locked, fraud asked, money moved, the
// transaction and its event written, the event relayed to Kafka), with the
// real fraud server scoring over Redis, and again with a trivial fraud peer
// (nginx answering a fixed approve) to isolate the transaction path (make
// bench runs it):
//
//	go test ./apps/transactions -run XXX -bench Transactions -benchtime 1x
//
// Payments spread over 200 accounts of one owner; PostgreSQL, Redis, fraud,
// nginx and the generator share the machine's cores (Kafka is kfake, in the
// benchmark's own process).
func BenchmarkTransactions(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	bins := proctest.Build(b, false, ".", "github.com/intelliflow/platform/apps/fraud", proctest.LoadgenPackage)
	pg := pgtest.Start(b)
	redisAddr, _ := redistest.Start(b)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	dir := b.TempDir()
	models := filepath.Join(dir, "models", "bench")
	if err := os.MkdirAll(models, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"model.json", "reference.json", "metrics.json"} {
		data, err := os.ReadFile(filepath.Join("..", "fraud", "model", f))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(models, f), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	env := func(ports []int, more map[string]string) []string {
		vars := map[string]string{"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": strconv.Itoa(ports[0]), "METRICS_PORT": strconv.Itoa(ports[1]),
			"SHUTDOWN_DRAIN": "10ms", "LOG_LEVEL": "error", "DEBUG_PPROF": strconv.FormatBool(proctest.Profiling())}
		for k, v := range more {
			vars[k] = v
		}
		return proctest.Env(vars)
	}
	fraud := proctest.Start(b, 2, "/v2/models/fraud", "bench", func(ports []int) *exec.Cmd {
		cmd := exec.Command(bins["github.com/intelliflow/platform/apps/fraud"])
		cmd.Env = env(ports, map[string]string{"MODEL_DIR": filepath.Dir(models), "REDIS_ADDR": redisAddr})
		return cmd
	})
	trivial := proctest.StartNginx(b, 1, "/whoami", "trivial-fraud", func(ports []int) string {
		return fmt.Sprintf(`
  server {
    listen 127.0.0.1:%d;
    default_type application/json;
    location = /whoami { return 200 'trivial-fraud'; }
    location = /v1/score { return 200 '{"score":0.01,"decision":"approve","model":{"name":"fraud","version":"trivial"},"degraded":false}'; }
  }`, ports[0])
	})
	transactions := func(fraudURL string) *proctest.Process {
		return proctest.Start(b, 2, "/readyz", "ready", func(ports []int) *exec.Cmd {
			cmd := exec.Command(bins["."])
			cmd.Env = env(ports, map[string]string{
				"DATABASE_HOST": pg.Host, "DATABASE_PORT": strconv.Itoa(pg.Port), "DATABASE_NAME": "postgres", "DATABASE_SSLMODE": "disable",
				"DATABASE_USER": pg.Superuser, "DATABASE_PASSWORD": "trusted", "DATABASE_MAX_CONNS": "40",
				"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_TOPIC_REPLICATION": "1", "FRAUD_URL": fraudURL,
			})
			return cmd
		})
	}
	withFraud := transactions(fraud.URL)
	withTrivial := transactions(trivial.URL)

	// 200 funded accounts of one owner, the payments spread over them.
	post := func(url, subject, role, key, body string) string {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(identity.SubjectHeader, subject)
		req.Header.Set(identity.RoleHeader, role)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("%s: %d %s", url, resp.StatusCode, out)
		}
		return string(out)
	}
	var bodies []string
	for i := range 200 {
		acct := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(post(withFraud.URL+"/v1/accounts", "bench-owner", "customer", "", `{"currency":"EUR"}`))[1]
		post(withFraud.URL+"/v1/accounts/"+acct+"/deposits", "bench-admin", "admin", fmt.Sprintf("fund-%d", i), `{"amount":100000000000,"currency":"EUR"}`)
		bodies = append(bodies, fmt.Sprintf(`{"account_id":%q,"merchant_id":"m-%d","amount":%d,"currency":"EUR"}`, acct, i%50, 100+i))
	}
	bodyFile := filepath.Join(dir, "bodies")
	if err := os.WriteFile(bodyFile, []byte(strings.Join(bodies, "\n")), 0o644); err != nil {
		b.Fatal(err)
	}

	for b.Loop() {
		for _, phase := range []struct {
			name   string
			tx     *proctest.Process
			scorer *proctest.Process
		}{{"real fraud", withFraud, fraud}, {"trivial fraud", withTrivial, trivial}} {
			payments := func(rate, d string) []string {
				return []string{"-url", phase.tx.URL + "/v1/transactions", "-method", "POST",
					"-bodies", bodyFile, "-unique-header", "Idempotency-Key", "-header", identity.SubjectHeader + ": bench-owner",
					"-status", "201", "-rate", rate, "-duration", d}
			}
			// Warm: the pool's connections open and prepare their
			// statements, the generator's connections open; what follows
			// measures the steady state.
			proctest.Load(b, bins[proctest.LoadgenPackage], payments("200", "3s")...)
			for _, rate := range strings.Split(*txRates, ",") {
				proctest.Settle(b, withFraud, withTrivial, fraud)
				cpu, scoring, db := phase.tx.CPU(b), phase.scorer.CPU(b), proctest.CPUOf(b, pg.PID())
				var rep loadgen.Report
				proctest.Profile(b, phase.tx.URLOf(1), "transactions-"+strings.ReplaceAll(phase.name, " ", "-")+"-"+rate, *txDuration, func() {
					rep = proctest.Load(b, bins[proctest.LoadgenPackage], payments(rate, txDuration.String())...)
				})
				per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(rep.Sent, 1)) }
				b.Logf("%-13s %5s/s: %s; CPU per payment: transactions %.0f µs, fraud %.0f µs, PostgreSQL %.0f µs", phase.name, rate, rep,
					per(phase.tx.CPU(b)-cpu), per(phase.scorer.CPU(b)-scoring), per(proctest.CPUOf(b, pg.PID())-db))
				b.ReportMetric(rep.GoodputRPS, strings.ReplaceAll(phase.name, " ", "-")+"-"+rate+"-tps")
			}
		}
	}
}
