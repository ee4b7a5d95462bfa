package featurestore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/internal/redistest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pay(offset time.Duration, amount float64, merchant string) features.Transaction {
	return features.Transaction{Time: t0.Add(offset), Amount: amount, MerchantID: merchant, X: 3, Y: 4, HasLocation: true}
}

// TestMatchesInMemoryHistory: what the store reads back gives exactly the
// features an in-memory history gives, which is what the model trained on.
func TestMatchesInMemoryHistory(t *testing.T) {
	addr, _ := redistest.Start(t)
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
	addr, stop := redistest.Start(t)
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
	addr, _ := redistest.Start(t)
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
	addr, _ := redistest.Start(t)
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

// TestBatchedUpdatesApplyAndCountFailures: updates queued faster than one
// round trip each go in batches, and every one lands in its card's history
// in order; a Redis that lost its scripts gets the script again and loses
// nothing; a batch Redis refuses is counted, not lost silently.
func TestBatchedUpdatesApplyAndCountFailures(t *testing.T) {
	addr, stop := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer rdb.Close()
	failed := 0
	s := New(rdb, quiet, Options{ReadTimeout: time.Second, QueueSize: 5000, Failed: func(n int) { failed += n }})
	ctx := context.Background()
	// The script is not loaded yet: the first batch meets NOSCRIPT.
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	const cards, each = 40, 25
	for i := range each {
		for c := range cards {
			s.Enqueue(fmt.Sprint("b", c), pay(time.Duration(i-each)*time.Minute, float64(c+i), "m"))
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(runCtx); close(done) }()
	cancel()
	<-done
	require.Zero(t, failed)
	for c := range cards {
		h, known := s.Read(ctx, fmt.Sprint("b", c), pay(0, 1, "m"))
		require.Equal(t, features.All, known)
		require.Equal(t, float64(each), h.N, "card b%d: every update applied once", c)
		require.Len(t, h.Recent, each)
		mean := 0.0
		for i := range each {
			mean += float64(c+i) / each
		}
		require.InDelta(t, mean, h.Mean, 1e-9)
	}

	// Redis gone: the batch fails whole, and says how many.
	stop()
	for range 7 {
		s.Enqueue("b0", pay(0, 1, "m"))
	}
	runCtx, cancel = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { s.Run(runCtx); close(done) }()
	cancel()
	<-done
	require.Equal(t, 7, failed)
}
