package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/redistest"
)

// The load tests run the fraud server as the binary production runs and
// the generator (cmd/fraud-load, vegeta's open-loop attacker) as a process
// of its own: neither shares a runtime with the other or with the test.

// build compiles the server (with the race detector when the tests have it)
// and the generator into a temporary folder.
func build(t testing.TB) (server, generator string) {
	t.Helper()
	dir := t.TempDir()
	server, generator = filepath.Join(dir, "fraud"), filepath.Join(dir, "fraud-load")
	args := []string{"build", "-o", server}
	if raceBuild {
		args = append(args, "-race")
	}
	for _, cmd := range [][]string{append(args, "."), {"build", "-o", generator, "./cmd/fraud-load"}} {
		out, err := exec.Command("go", cmd...).CombinedOutput()
		require.NoError(t, err, "go %s: %s", strings.Join(cmd, " "), out)
	}
	return server, generator
}

// process is a server the test started, with its output.
type process struct {
	url    string
	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
}

// startProcess starts a server on free loopback ports (command gets them)
// and waits until GET url+probe answers 200 with want in the body: want
// names this server (its model version), so another one answering on a
// port taken in between is told apart and the ports picked again.
func startProcess(t testing.TB, probe, want string, command func(ports []int) *exec.Cmd) *process {
	t.Helper()
	var p *process
	_, err := freeport.Start(2, freeport.Pick, func(ports []int) error {
		p = &process{url: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), cmd: command(ports), output: &syncBuffer{}, exited: make(chan struct{})}
		p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
		if err := p.cmd.Start(); err != nil {
			return err
		}
		go func() { _ = p.cmd.Wait(); close(p.exited) }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case <-p.exited:
				if strings.Contains(strings.ToLower(p.output.String()), "address already in use") {
					return fmt.Errorf("%s: %w", p.cmd.Path, freeport.ErrInUse)
				}
				return fmt.Errorf("%s exited: %s", p.cmd.Path, p.output)
			default:
			}
			if resp, err := http.Get(p.url + probe); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && strings.Contains(string(b), want) {
					return nil
				}
				if resp.StatusCode == http.StatusOK {
					p.stop()
					return fmt.Errorf("another server answers on %s: %w", p.url, freeport.ErrInUse)
				}
			}
			if time.Now().After(deadline) {
				p.stop()
				return fmt.Errorf("%s did not answer %s: %s", p.cmd.Path, probe, p.output)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.stop() })
	return p
}

// stop sends SIGTERM and returns how the process ended; a server built with
// the race detector exits 66 when it saw a race.
func (p *process) stop() error {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if s := p.cmd.ProcessState; s != nil && !s.Success() {
		return fmt.Errorf("%s: %s", p.cmd.Path, s)
	}
	return nil
}

// cpu is the process's user and system CPU time so far.
func (p *process) cpu(t testing.TB) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	require.NoError(t, err)
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startFraud runs the server binary on the committed model, under a model
// version made for this run.
func startFraud(t testing.TB, bin string, env map[string]string) *process {
	t.Helper()
	version := fmt.Sprintf("load-%d", time.Now().UnixNano())
	dir := modelDir(t, version, "")
	return startProcess(t, "/v2/models/fraud", version, func(ports []int) *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "MODEL_DIR="+dir, "BIND_ADDRESS=127.0.0.1", "SHUTDOWN_DRAIN=10ms",
			"HTTP_PORT="+strconv.Itoa(ports[0]), "METRICS_PORT="+strconv.Itoa(ports[1]))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return cmd
	})
}

// loadReport is the part of cmd/fraud-load's report the tests read.
type loadReport struct {
	Sent, Good, Degraded, Failed int
	Seconds                      float64
	GoodputRPS                   float64 `json:"goodput_rps"`
	Failures                     map[string]struct {
		Count   int
		Example string
	}
	LatencyMS struct{ P50, P90, P99, P999, Max float64 } `json:"latency_ms"`
}

// generate runs the generator against target and returns its report.
func generate(t testing.TB, generator, target, endpoint string, rate int, d time.Duration) loadReport {
	t.Helper()
	cmd := exec.Command(generator, "-target", target, "-endpoint", endpoint, "-rate", strconv.Itoa(rate), "-duration", d.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "fraud-load: %s", stderr.String())
	var rep loadReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	return rep
}

func (r loadReport) String() string {
	s := fmt.Sprintf("%d sent in %.1fs: goodput %.0f/s; %d good, %d degraded, %d failed; good answers p50 %.2f p90 %.2f p99 %.2f p999 %.2f max %.2f ms",
		r.Sent, r.Seconds, r.GoodputRPS, r.Good, r.Degraded, r.Failed, r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.P999, r.LatencyMS.Max)
	for why, f := range r.Failures {
		s += fmt.Sprintf("; %d %s (%s)", f.Count, why, f.Example)
	}
	return s
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
	generate(t, generator, srv.url, "score", 200, time.Second) // connections and card histories
	rep := generate(t, generator, srv.url, "score", 400, 3*time.Second)
	t.Logf("400/s for 3s (race detector %v): %s", raceBuild, rep)
	require.Zero(t, rep.Failed, "%s", rep)
	require.Equal(t, rep.Sent, rep.Good+rep.Degraded+rep.Failed)
	require.LessOrEqual(t, rep.Degraded*100, rep.Sent, "at most 1 %% degraded: %s", rep)
	require.NoError(t, srv.stop(), "the server exits cleanly after the load:\n%s", srv.output)
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
	if raceBuild {
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
	py := startProcess(b, "/v2/health/ready", "ready", func(ports []int) *exec.Cmd {
		return exec.Command(python, filepath.Join("testdata", "xgbserve.py"), model, strconv.Itoa(ports[0]))
	})

	for b.Loop() {
		generate(b, generator, srv.url, "score", 500, 2*time.Second) // connections and card histories
		for _, rate := range rates(b, *loadRates) {
			settle(b, srv, py)
			cpu, redisCPU := srv.cpu(b), redisCPUTime(b, rdb)
			rep := generate(b, generator, srv.url, "score", rate, *loadDuration)
			perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(rep.Sent, 1)) }
			b.Logf("score %5d/s: %s; CPU per request: server %.0f µs, redis %.0f µs", rate, rep, perReq(srv.cpu(b)-cpu), perReq(redisCPUTime(b, rdb)-redisCPU))
			b.ReportMetric(rep.GoodputRPS, fmt.Sprintf("score-%d-goodput/s", rate))
			b.ReportMetric(rep.LatencyMS.P99, fmt.Sprintf("score-%d-p99-ms", rate))
		}
		for _, s := range []struct {
			name string
			p    *process
		}{{"go", srv}, {"python", py}} {
			for _, rate := range rates(b, *loadInferRates) {
				settle(b, srv, py)
				cpu := s.p.cpu(b)
				rep := generate(b, generator, s.p.url, "infer", rate, *loadDuration)
				b.Logf("infer %5d/s %-6s: %s; server CPU %.0f µs per request", rate, s.name, rep, float64((s.p.cpu(b)-cpu).Microseconds())/float64(max(rep.Sent, 1)))
				b.ReportMetric(rep.GoodputRPS, fmt.Sprintf("infer-%d-%s-goodput/s", rate, s.name))
			}
		}
	}
}

// settle waits until the servers are idle: an overloaded server keeps
// working off requests whose clients gave up, and would take the cores from
// the next phase.
func settle(t testing.TB, servers ...*process) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		var before time.Duration
		for _, p := range servers {
			before += p.cpu(t)
		}
		time.Sleep(time.Second)
		var after time.Duration
		for _, p := range servers {
			after += p.cpu(t)
		}
		if after-before < 30*time.Millisecond {
			return
		}
	}
	t.Log("servers still busy after 2 minutes")
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
