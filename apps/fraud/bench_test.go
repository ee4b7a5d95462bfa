package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/featurestore"
	"github.com/intelliflow/platform/internal/proctest"
	"github.com/intelliflow/platform/internal/redistest"
)

var (
	scoreRates    = flag.String("score.rates", "500,1500,2400,3000,4000,4500", "BenchmarkScore: /v1/score rates, requests per second")
	scoreDuration = flag.Duration("score.duration", 20*time.Second, "BenchmarkScore: how long each rate runs")
	scoreCards    = flag.Int("score.cards", 20000, "BenchmarkScore: cards seeded with history, and spread over by the requests")
)

// BenchmarkScore is make bench-fraud: the fraud server as production runs
// it (LOG_LEVEL=error), redis-server on the same machine, the generator
// (vegeta's open-loop attacker, cmd/fraud-load) in a process of its own,
// every request doing its full work: features from Redis, prediction,
// reason codes, history update, metrics. Redis starts with the history of
// -score.cards cards; the requests are spread over them. For each rate it
// prints goodput (correct, non-degraded answers per second), the success
// ratio, latency of good answers, degraded answers, the CPU time per
// request of the server and of Redis, measured (each process's CPU time
// over the run divided by the requests sent), and the round trips Redis
// served per request (its read events, INFO total_reads_processed). It prints; it asserts
// nothing. With -proctest.profiles DIR it also writes the server's CPU and
// allocation profiles at each rate and prints their tops.
//
//	go test ./apps/fraud -run XXX -bench Score -benchtime 1x [-score.rates 1500,4000] [-score.duration 20s]
func BenchmarkScore(b *testing.B) {
	if proctest.Race {
		b.Skip("numbers under the race detector mean nothing")
	}
	redisAddr, _ := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	start := time.Now()
	seedHistories(b, rdb, *scoreCards)
	b.Logf("seeded %d cards' histories in %s", *scoreCards, time.Since(start).Round(time.Millisecond))
	server, generator := build(b)
	floorBin := proctest.Build(b, false, "./testdata/floor")["./testdata/floor"]
	env := map[string]string{"REDIS_ADDR": redisAddr, "LOG_LEVEL": "error"}
	if proctest.Profiling() {
		env["DEBUG_PPROF"] = "true"
	}
	srv := startFraud(b, server, env)
	floor := proctest.Start(b, 1, "/v2/models/fraud", "floor", func(ports []int) *exec.Cmd {
		cmd := exec.Command(floorBin)
		cmd.Env = append(proctest.Env(nil), "REDIS_ADDR="+redisAddr, "HTTP_PORT="+strconv.Itoa(ports[0]))
		return cmd
	})
	cards := "-cards=" + strconv.Itoa(*scoreCards)

	for b.Loop() {
		var rows []string
		for _, s := range []struct {
			name, metrics string
			p             *proctest.Process
		}{{"fraud", srv.URLOf(1), srv}, {"floor", "", floor}} {
			proctest.Load(b, generator, "-target", s.p.URL, "-rate", "500", "-duration", "2s", cards) // connections
			for _, rate := range rates(b, *scoreRates) {
				proctest.Settle(b, s.p)
				cpu, redisCPU, redisReads := s.p.CPU(b), redisCPUTime(b, rdb), redisReadEvents(b, rdb)
				var row string
				proctest.Profile(b, s.metrics, fmt.Sprintf("%s-score-%d", s.name, rate), *scoreDuration, func() {
					r := proctest.Load(b, generator, "-target", s.p.URL, "-rate", strconv.Itoa(rate), "-duration", scoreDuration.String(), cards)
					perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(r.Sent, 1)) }
					row = fmt.Sprintf("%-6s %6d  %8.0f  %7.2f%%  %6.2f %6.2f %7.2f %8.2f  %6d (%5.2f%%)  %8.0f  %7.0f  %8.2f",
						s.name, rate, r.GoodputRPS, 100*float64(r.Good+r.Degraded)/float64(max(r.Sent, 1)),
						r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max,
						r.Degraded, 100*float64(r.Degraded)/float64(max(r.Sent, 1)),
						perReq(s.p.CPU(b)-cpu), perReq(redisCPUTime(b, rdb)-redisCPU),
						float64(redisReadEvents(b, rdb)-redisReads)/float64(max(r.Sent, 1)))
					for why, f := range r.Failures {
						row += fmt.Sprintf("  %d failed: %s (%.80s)", f.Count, why, f.Example)
					}
					b.ReportMetric(r.GoodputRPS, fmt.Sprintf("%s-%d-goodput/s", s.name, rate))
					b.ReportMetric(r.LatencyMS.P99, fmt.Sprintf("%s-%d-p99-ms", s.name, rate))
				})
				rows = append(rows, row)
			}
		}
		b.Logf("/v1/score, %s per rate, %d cards, Redis on the same machine; floor is testdata/floor (decode, the same Redis reads, a fixed answer):\n%s\n%s", *scoreDuration, *scoreCards,
			"server   rate   goodput  success  p50    p90    p99     max       degraded        server µs/req  redis µs/req  round trips/req",
			strings.Join(rows, "\n"))
	}
}

// seedHistories writes a few payments into each card's history, as the
// server's own updates do, so every request reads a real history.
func seedHistories(t testing.TB, rdb *redis.Client, cards int) {
	t.Helper()
	store := featurestore.New(rdb, slog.New(slog.NewTextHandler(io.Discard, nil)), featurestore.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	for c := range cards {
		for i := range 3 {
			tx := features.Transaction{Time: now.Add(-time.Duration(i+1) * time.Hour), Amount: float64(10 + (c+i)%90), MerchantID: "m" + strconv.Itoa((c*7+i)%5000),
				X: float64(c % 100), Y: float64(i * 10), HasLocation: true}
			require.NoError(t, store.Update(ctx, "c"+strconv.Itoa(c), tx))
		}
	}
}

// redisReadEvents is how many times Redis has read from its clients'
// sockets: one per round trip a client makes (more for a pipeline too long
// for one read).
func redisReadEvents(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_reads_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("INFO stats has no total_reads_processed")
	return 0
}
