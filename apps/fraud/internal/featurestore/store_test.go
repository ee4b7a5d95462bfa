package featurestore

import (
	"context"
	"errors"
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

// startStore is a store over a Redis of the test's own.
func startStore(t *testing.T, o Options) (*Store, *redis.Client) {
	t.Helper()
	addr, _ := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return New(rdb, quiet, o), rdb
}

func pay(offset time.Duration, amount float64, merchant string) features.Transaction {
	return features.Transaction{Time: t0.Add(offset), Amount: amount, MerchantID: merchant, X: 3, Y: 4, HasLocation: true}
}

// TestMatchesInMemoryHistory: what the store reads back gives exactly the
// features an in-memory history gives, which is what the model trained on.
func TestMatchesInMemoryHistory(t *testing.T) {
	s, rdb := startStore(t, Options{ReadTimeout: time.Second})
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
	s, _ := startStore(t, Options{ReadTimeout: time.Second})
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

// runUntilDrained runs the store's Run and stops it, so everything queued
// is sent before it returns.
func runUntilDrained(s *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	cancel()
	<-done
}

// TestReadsCarryQueuedUpdates: a read sends queued updates (other cards'
// and its own card's earlier payments) ahead of its own commands in its
// round trip, so a request reads the payments queued before it, and no
// update waits for Run while reads come.
func TestReadsCarryQueuedUpdates(t *testing.T) {
	s, rdb := startStore(t, Options{ReadTimeout: time.Second})
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, "r", pay(-time.Hour, 1, "m"))) // loads the script
	s.Enqueue("r", pay(-time.Minute, 3, "m"))
	for i := range maxRide - 1 {
		s.Enqueue(fmt.Sprint("other", i), pay(-time.Minute, 5, "m"))
	}
	s.Enqueue("left", pay(-time.Minute, 7, "m"))

	h, known := s.Read(ctx, "r", pay(0, 9, "m"))
	require.Equal(t, features.All, known)
	require.Equal(t, 2.0, h.N, "the payment queued before the read is in what it read")
	require.Len(t, h.Recent, 2)
	require.Len(t, s.queue, 1, "one read carries at most maxRide updates")
	for i := range maxRide - 1 {
		n, err := rdb.HGet(ctx, fmt.Sprint("{card:other", i, "}:profile"), "n").Result()
		require.NoError(t, err)
		require.Equal(t, "1", n)
	}
}

// TestCarriedUpdatesAreNeverLost: updates a read carried that Redis did
// not confirm (it lost its scripts) are sent again by Run; those a read
// carried into a stalled Redis land when Redis answers, after the request
// has gone on degraded at its deadline; each lands exactly once (the
// script ignores a payment it already has), and a read is degraded only
// when its own commands failed or were late.
func TestCarriedUpdatesAreNeverLost(t *testing.T) {
	addr, _ := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}) // as main.go makes it: deadlines end waits for a connection only
	defer rdb.Close()
	failed := 0
	s := New(rdb, quiet, Options{ReadTimeout: 30 * time.Millisecond, Failed: func(n int) { failed += n }})
	ctx := context.Background()

	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	for i := range 3 {
		s.Enqueue("lost-script", pay(time.Duration(i-3)*time.Minute, 10, "m"))
	}
	_, known := s.Read(ctx, "reader", pay(0, 1, "m"))
	require.Equal(t, features.All, known, "a carried update's NOSCRIPT does not degrade the read")
	require.Len(t, s.retry, 3)

	// A stalled Redis: the read times out after sending what it carried.
	for i := range 4 {
		s.Enqueue("stalled", pay(time.Duration(i-4)*time.Minute, 20, "m"))
	}
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "200", "ALL").Err())
	start := time.Now()
	_, known = s.Read(ctx, "reader", pay(0, 1, "m"))
	require.Equal(t, features.Known{}, known)
	require.Less(t, time.Since(start), 150*time.Millisecond, "a stalled Redis costs the deadline, not the stall")
	time.Sleep(250 * time.Millisecond)
	runUntilDrained(s)
	require.Zero(t, failed)

	for card, want := range map[string]float64{"lost-script": 3, "stalled": 4} {
		h, known := s.Read(ctx, card, pay(0, 1, "m"))
		require.Equal(t, features.All, known)
		require.Equal(t, want, h.N, "%s: every update counted once", card)
		require.Len(t, h.Recent, int(want))
	}

	// The same payment twice changes nothing the second time.
	p := pay(-time.Second, 42, "m")
	require.NoError(t, s.Update(ctx, "twice", p))
	require.NoError(t, s.Update(ctx, "twice", p))
	h, _ := s.Read(ctx, "twice", pay(0, 1, "m"))
	require.Equal(t, 1.0, h.N)
	require.Equal(t, 42.0, h.Mean)
}

// TestRunSendsWhatNoReadTook: without reads, Run sends queued updates
// within FlushDelay.
func TestRunSendsWhatNoReadTook(t *testing.T) {
	s, rdb := startStore(t, Options{ReadTimeout: time.Second, FlushDelay: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Enqueue("idle", pay(-time.Minute, 4, "m"))
	require.Eventually(t, func() bool {
		n, _ := rdb.HGet(ctx, "{card:idle}:profile", "n").Result()
		return n == "1"
	}, 2*time.Second, 5*time.Millisecond)
}

// TestStalledRedisBoundsWaitingReads: with Redis stalled, reads past
// MaxInFlight are degraded at once instead of each leaving a goroutine
// waiting on Redis; once Redis answers, reads are whole again.
func TestStalledRedisBoundsWaitingReads(t *testing.T) {
	addr, _ := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}) // as main.go makes it: deadlines end waits for a connection only
	defer rdb.Close()
	s := New(rdb, quiet, Options{ReadTimeout: 100 * time.Millisecond, MaxInFlight: 2})
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, "c", pay(-time.Minute, 10, "m")))
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "400", "ALL").Err())
	for range 2 {
		_, known := s.Read(ctx, "c", pay(0, 1, "m"))
		require.Equal(t, features.Known{}, known, "late for its deadline")
	}
	start := time.Now()
	_, known := s.Read(ctx, "c", pay(0, 1, "m"))
	require.Equal(t, features.Known{}, known)
	require.Less(t, time.Since(start), 50*time.Millisecond, "degraded at once, not at the deadline")
	require.Eventually(t, func() bool {
		_, known := s.Read(ctx, "c", pay(0, 1, "m"))
		return known == features.All
	}, 2*time.Second, 20*time.Millisecond)
}

// TestLateReadsWithoutAConnectionAreShed: a read still waiting for a
// connection at its deadline is dropped, not sent late, and the update it
// carried goes back to Run, which sends it once.
func TestLateReadsWithoutAConnectionAreShed(t *testing.T) {
	addr, _ := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, PipelinePoolSize: -1}) // one connection in all
	defer rdb.Close()
	failed := 0
	s := New(rdb, quiet, Options{ReadTimeout: 30 * time.Millisecond, Failed: func(n int) { failed += n }})
	ctx := context.Background()
	require.NoError(t, s.Update(ctx, "shed", pay(-time.Hour, 1, "m")))
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "300", "ALL").Err())

	_, known := s.Read(ctx, "shed", pay(0, 1, "m")) // holds the one connection until Redis answers
	require.Equal(t, features.Known{}, known)
	s.Enqueue("shed", pay(-time.Minute, 2, "m"))
	_, known = s.Read(ctx, "shed", pay(0, 1, "m")) // carries the update, never gets a connection
	require.Equal(t, features.Known{}, known)
	require.Eventually(t, func() bool { return len(s.retry) == 1 }, time.Second, 5*time.Millisecond,
		"the dropped read's update waits for Run")

	time.Sleep(300 * time.Millisecond)
	runUntilDrained(s)
	require.Zero(t, failed)
	h, known := s.Read(ctx, "shed", pay(0, 1, "m"))
	require.Equal(t, features.All, known)
	require.Equal(t, 2.0, h.N)
}

// TestUnconfirmedUpdatesAfterStopAreCounted: an update a late read hands
// back once Run has stopped is counted as failed, not left in a queue no
// one reads.
func TestUnconfirmedUpdatesAfterStopAreCounted(t *testing.T) {
	failed := 0
	s, _ := startStore(t, Options{Failed: func(n int) { failed += n }})
	runUntilDrained(s)
	c := redis.NewCmd(context.Background())
	c.SetErr(errors.New("connection reset"))
	s.confirm([]update{{"late", pay(0, 1, "m")}}, []*redis.Cmd{c})
	require.Equal(t, 1, failed)
	require.Empty(t, s.retry)
}
