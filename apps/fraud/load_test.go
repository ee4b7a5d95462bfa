package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/loadgen"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/redistest"
)

// The load tests run the fraud server as the binary production runs and
// the generator (cmd/fraud-load, vegeta's open-loop attacker) as a process
// of its own: neither shares a runtime with the other or with the test.

// build compiles the server (with the race detector when the tests have it)
// and the generator.
func build(t testing.TB) (server, generator string) {
	t.Helper()
	bins := proctest.Build(t, proctest.Race, ".")
	gen := proctest.Build(t, false, "./cmd/fraud-load")
	return bins["."], gen["./cmd/fraud-load"]
}

// startFraud runs the server binary on the committed model, under a model
// version made for this run.
func startFraud(t testing.TB, bin string, env map[string]string) *proctest.Process {
	t.Helper()
	version := fmt.Sprintf("load-%d", time.Now().UnixNano())
	dir := modelDir(t, version, "")
	return proctest.Start(t, 2, "/v2/models/fraud", version, func(ports []int) *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(proctest.Env(env), "MODEL_DIR="+dir, "BIND_ADDRESS=127.0.0.1", "SHUTDOWN_DRAIN=10ms",
			"HTTP_PORT="+strconv.Itoa(ports[0]), "METRICS_PORT="+strconv.Itoa(ports[1]))
		return cmd
	})
}

// generate runs the generator against target and returns its report.
func generate(t testing.TB, generator, target, endpoint string, rate int, d time.Duration) loadgen.Report {
	t.Helper()
	cmd := exec.Command(generator, "-target", target, "-endpoint", endpoint, "-rate", strconv.Itoa(rate), "-duration", d.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "fraud-load: %s", stderr.String())
	var rep loadgen.Report
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	return rep
}

// TestLoadSmoke puts the server binary under a short open-loop load with
// card history in Redis. The bound is loose, a smoke test not a target:
// no request fails, at most 1 % are degraded, and the server then stops
// cleanly (under make test it is built with the race detector, so a data
// race on the request path fails here).
func TestLoadSmoke(t *testing.T) {
	redisAddr, _ := redistest.Start(t)
	server, generator := build(t)
	// The feature deadline is loose here: the race detector slows the
	// server several times over, and other test packages share the cores.
	srv := startFraud(t, server, map[string]string{"REDIS_ADDR": redisAddr, "LOG_LEVEL": "error", "FEATURE_TIMEOUT": "250ms"})
	generate(t, generator, srv.URL, "score", 200, time.Second) // connections and card histories
	rep := generate(t, generator, srv.URL, "score", 400, 3*time.Second)
	t.Logf("400/s for 3s (race detector %v): %s", proctest.Race, rep)
	require.Zero(t, rep.Failed, "%s", rep)
	require.Equal(t, rep.Sent, rep.Good+rep.Degraded+rep.Failed)
	require.LessOrEqual(t, rep.Degraded*100, rep.Sent, "at most 1 %% degraded: %s", rep)
	require.NoError(t, srv.Stop(), "the server exits cleanly after the load:\n%s", srv.Output())
}

var (
	loadRates      = flag.String("load.rates", "500,1500,2400,3000", "BenchmarkLoad: /v1/score rates, requests per second")
	loadInferRates = flag.String("load.infer-rates", "250,1000,4000", "BenchmarkLoad: /v2 infer rates for the Go and Python servers")
	loadDuration   = flag.Duration("load.duration", 10*time.Second, "BenchmarkLoad: how long each rate runs")
)

func rates(b *testing.B, s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		require.NoError(b, err, "rate %q", f)
		out = append(out, n)
	}
	return out
}

// BenchmarkLoad measures the server as it runs in production, at fixed
// open-loop rates (make fraud-load runs it):
//
//	go test ./apps/fraud -run XXX -bench Load -benchtime 1x [-load.rates 500,1500] [-load.duration 20s]
//
// /v1/score does the full work (features from Redis, prediction, reasons,
// history update, metrics); goodput counts correct, non-degraded answers.
// CPU per request is each process's CPU time over the run divided by the
// requests sent. Then the model alone, on the Open Inference Protocol's
// infer call, against what a team would stand up instead: XGBoost's own
// predictor behind a Python HTTP server (testdata/xgbserve.py), same
// generator, same rates, same run.
func BenchmarkLoad(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import xgboost").Run(); err != nil {
		b.Fatalf("the comparison needs Debian's python3-xgboost: run scripts/install-xgboost.sh (make fraud-load does)")
	}
	redisAddr, _ := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	server, generator := build(b)
	srv := startFraud(b, server, map[string]string{"REDIS_ADDR": redisAddr, "LOG_LEVEL": "error"})
	model, err := filepath.Abs(filepath.Join("model", "model.json"))
	require.NoError(b, err)
	py := proctest.Start(b, 1, "/v2/health/ready", "ready", func(ports []int) *exec.Cmd {
		return exec.Command(python, filepath.Join("testdata", "xgbserve.py"), model, strconv.Itoa(ports[0]))
	})

	for b.Loop() {
		generate(b, generator, srv.URL, "score", 500, 2*time.Second) // connections and card histories
		for _, rate := range rates(b, *loadRates) {
			proctest.Settle(b, srv, py)
			cpu, redisCPU := srv.CPU(b), redisCPUTime(b, rdb)
			rep := generate(b, generator, srv.URL, "score", rate, *loadDuration)
			perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(rep.Sent, 1)) }
			b.Logf("score %5d/s: %s; CPU per request: server %.0f µs, redis %.0f µs", rate, rep, perReq(srv.CPU(b)-cpu), perReq(redisCPUTime(b, rdb)-redisCPU))
			b.ReportMetric(rep.GoodputRPS, fmt.Sprintf("score-%d-goodput/s", rate))
			b.ReportMetric(rep.LatencyMS.P99, fmt.Sprintf("score-%d-p99-ms", rate))
		}
		for _, s := range []struct {
			name string
			p    *proctest.Process
		}{{"go", srv}, {"python", py}} {
			for _, rate := range rates(b, *loadInferRates) {
				proctest.Settle(b, srv, py)
				cpu := s.p.CPU(b)
				rep := generate(b, generator, s.p.URL, "infer", rate, *loadDuration)
				b.Logf("infer %5d/s %-6s: %s; server CPU %.0f µs per request", rate, s.name, rep, float64((s.p.CPU(b)-cpu).Microseconds())/float64(max(rep.Sent, 1)))
				b.ReportMetric(rep.GoodputRPS, fmt.Sprintf("infer-%d-%s-goodput/s", rate, s.name))
			}
		}
	}
}

// redisCPUTime is Redis's own CPU time so far (INFO cpu).
func redisCPUTime(t testing.TB, rdb *redis.Client) time.Duration {
	t.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	require.NoError(t, err)
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
