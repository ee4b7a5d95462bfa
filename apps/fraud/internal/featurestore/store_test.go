package featurestore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startRedis runs a throwaway redis-server on a free loopback port. It
// skips where redis-server is missing, unless INTELLIFLOW_REQUIRE_SERVICES is
// set (make test sets it after scripts/install-services.sh).
func startRedis(t *testing.T) (addr string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("INTELLIFLOW_REQUIRE_SERVICES") != "" {
			t.Fatal("redis-server is missing; run scripts/install-services.sh")
		}
		t.Skip("redis-server is missing; make test installs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	require.NoError(t, cmd.Start())
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	require.Eventually(t, func() bool { return rdb.Ping(context.Background()).Err() == nil }, 5*time.Second, 20*time.Millisecond)
	return addr, stop
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pay(offset time.Duration, amount float64, merchant string) features.Transaction {
	return features.Transaction{Time: t0.Add(offset), Amount: amount, MerchantID: merchant, X: 3, Y: 4, HasLocation: true}
}

// TestMatchesInMemoryHistory: what the store reads back gives exactly the
// features an in-memory history gives, which is what the model trained on.
func TestMatchesInMemoryHistory(t *testing.T) {
	addr, _ := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	s := New(rdb, quiet, Options{ReadTimeout: time.Second})
	ctx := context.Background()

	var mem features.History
	for _, p := range []features.Transaction{
		pay(-9*24*time.Hour, 500, "old"), pay(-3*24*time.Hour, 20, "m1"), pay(-2*time.Hour, 35, "m2"), pay(-10*time.Minute, 12.5, "m1"),
	} {
		require.NoError(t, s.Update(ctx, "card-1", p))
		mem.Update(p)
	}
	now := pay(0, 80, "m2")
	h, known := s.Read(ctx, "card-1", now)
	require.Equal(t, features.All, known)
	got, degraded := features.Vector(now, h, known)
	want, _ := features.Vector(now, mem, features.All)
	require.False(t, degraded)
	for i := range want {
		require.InDelta(t, want[i], got[i], 1e-9, features.Names[i])
	}
	require.Equal(t, 0.0, got[features.NewMerchant])

	ttl, err := rdb.PTTL(ctx, "{card:card-1}:tx").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 7*24*time.Hour, "history expires a day after the window")
}

// TestRedisDownScoresDegraded: with Redis stopped mid-run, reads return
// within the deadline with everything unknown, and the queue drops rather
// than blocks.
func TestRedisDownScoresDegraded(t *testing.T) {
	addr, stop := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer rdb.Close()
	dropped := 0
	s := New(rdb, quiet, Options{ReadTimeout: 20 * time.Millisecond, QueueSize: 2, Dropped: func() { dropped++ }})
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, "c", pay(-time.Minute, 10, "m")))
	_, known := s.Read(ctx, "c", pay(0, 10, "m"))
	require.Equal(t, features.All, known)

	stop()
	start := time.Now()
	h, known := s.Read(ctx, "c", pay(0, 99, "m"))
	took := time.Since(start)
	require.Equal(t, features.Known{}, known)
	x, degraded := features.Vector(pay(0, 99, "m"), h, known)
	require.True(t, degraded)
	require.Equal(t, 99.0, x[features.Amount], "what the request carries is still known")
	require.Less(t, took, 500*time.Millisecond, "a dead Redis costs at most the deadline, not a hang")

	for i := 0; i < 5; i++ {
		s.Enqueue("c", pay(0, 1, "m"))
	}
	require.Equal(t, 3, dropped, "a full queue drops updates instead of blocking")
}

// TestQueuedUpdatesApply: Run applies queued updates and drains on stop.
func TestQueuedUpdatesApply(t *testing.T) {
	addr, _ := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	s := New(rdb, quiet, Options{ReadTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for i := 0; i < 50; i++ {
		s.Enqueue("q", pay(time.Duration(-i)*time.Minute, 1, "m"))
	}
	cancel()
	<-done
	h, known := s.Read(context.Background(), "q", pay(0, 1, "m"))
	require.Equal(t, features.All, known)
	require.Equal(t, 50.0, h.N)
	require.Len(t, h.Recent, 50)
}

func TestForeignEntriesAreIgnored(t *testing.T) {
	addr, _ := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	require.NoError(t, rdb.ZAdd(ctx, "{card:x}:tx", redis.Z{Score: float64(t0.UnixMilli()), Member: "garbage"}).Err())
	require.NoError(t, rdb.HSet(ctx, "{card:x}:profile", "n", "NaN", "mean", "abc").Err())
	h, known := New(rdb, quiet, Options{ReadTimeout: time.Second}).Read(ctx, "x", pay(0, 5, ""))
	require.Equal(t, features.All, known)
	require.Empty(t, h.Recent)
	require.Zero(t, h.N)
}
