// Package featurestore keeps each card's recent history in Redis and reads
// it back for scoring in one pipelined round trip under a hard deadline.
// When Redis is slow or down the read returns what it has and says what is
// missing, so the request is scored degraded instead of failing.
//
// History updates go through a bounded queue, never on the request that
// made them: the next read, of any card, takes what is queued and sends it
// ahead of its own commands in the same round trip, so under load a request
// costs Redis one round trip, not two (each round trip costs both sides far
// more CPU in system calls and wake-ups than the commands in it). When no
// read comes, Run sends what is left within FlushDelay. An update that is
// dropped (queue full) or fails is counted; one whose fate is unknown (a
// round trip that met the client's socket timeout) is sent again, which
// the update script makes harmless: a payment already in the history is
// not counted twice.
package featurestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
)

// Store reads and writes card histories.
type Store struct {
	rdb     redis.UniversalClient
	timeout time.Duration
	log     *slog.Logger
	queue   chan update
	// pending wakes Run when the queue may hold updates no read took.
	pending chan struct{}
	// retry holds updates a read carried that Redis did not confirm; Run
	// sends them in its own round trip. Once Run has stopped (stopped, under
	// retryMu) they are counted as failed instead.
	retry      chan update
	retryMu    sync.Mutex
	stopped    bool
	flushDelay time.Duration
	// inFlight counts round trips of reads, late ones included.
	inFlight    atomic.Int64
	maxInFlight int64
	dropped     func()
	failed      func(n int)
}

type update struct {
	card string
	tx   features.Transaction
}

// Options configure a Store.
type Options struct {
	// ReadTimeout bounds the whole read; default 5 ms.
	ReadTimeout time.Duration
	// QueueSize bounds pending updates; when full, updates are dropped (and
	// counted) rather than slowing requests. Default 10000.
	QueueSize int
	// FlushDelay bounds how long an update waits for a read to carry it
	// before Run sends it on its own; default 2 ms.
	FlushDelay time.Duration
	// MaxInFlight bounds the reads waiting on Redis, late ones included;
	// past it a request is scored degraded at once, so a stalled Redis
	// cannot pile up a goroutine per request. Default 256.
	MaxInFlight int
	// Dropped is called for each dropped update (a metric).
	Dropped func()
	// Failed is called with the number of updates Redis did not apply
	// (a metric); each batch with failures is also logged once.
	Failed func(n int)
}

// New returns a store over a Redis client.
func New(rdb redis.UniversalClient, log *slog.Logger, o Options) *Store {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.FlushDelay <= 0 {
		o.FlushDelay = 2 * time.Millisecond
	}
	if o.Dropped == nil {
		o.Dropped = func() {}
	}
	if o.Failed == nil {
		o.Failed = func(int) {}
	}
	return &Store{rdb: rdb, timeout: o.ReadTimeout, log: log, queue: make(chan update, o.QueueSize), pending: make(chan struct{}, 1),
		retry: make(chan update, maxRide*64), flushDelay: o.FlushDelay, maxInFlight: int64(o.MaxInFlight), dropped: o.Dropped, failed: o.Failed}
}

// Keys are a card's keys: its recent payments (a sorted set by time), its
// amount profile (a hash) and the merchants it has paid (a set).
func Keys(card string) (tx, profile, merchants string) {
	// One hash tag per card keeps its keys on one Redis Cluster slot, so
	// the pipeline and the update script work there too.
	tag := "{card:" + card + "}"
	return tag + ":tx", tag + ":profile", tag + ":merchants"
}

// window is the longest velocity window: older payments are dropped.
var window = features.Windows[len(features.Windows)-1]

// maxRide bounds the queued updates one read carries: each costs Redis
// about as much as the read itself, and the read waits for them.
const maxRide = 8

// Read fetches a card's history for scoring tx. It never fails the request:
// parts it could not read in time are marked unknown. Queued updates (other
// requests' payments) go ahead of the read in its round trip.
//
// The round trip runs on a goroutine of its own and the request waits for
// it until the deadline only. A round trip that has its connection when
// the deadline passes finishes (its answer arrives, confirms the updates it
// carried and keeps the connection); one still waiting for a connection is
// dropped, so when the server falls behind it sheds Redis work instead of
// doing all of it late. For that the client must end only waits for a
// connection at a context's deadline, not socket reads
// (redis.Options.ContextTimeoutEnabled false; its socket timeouts still
// bound a stalled Redis). Ending round trips at the deadline instead
// closes each connection with its answer in flight; tried under load, the
// reconnects cost more CPU, which made more reads late, until 44 % of
// answers at 4,000/s were degraded.
func (s *Store) Read(ctx context.Context, card string, tx features.Transaction) (features.History, features.Known) {
	if s.inFlight.Add(1) > s.maxInFlight {
		s.inFlight.Add(-1)
		s.log.Warn("feature read degraded", "card", card, "err", "too many reads waiting on Redis")
		return features.History{}, features.Known{}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	done := make(chan reading, 1)
	go func() {
		defer s.inFlight.Add(-1)
		done <- s.read(ctx, card, tx)
	}()
	select {
	case r := <-done:
		return r.h, r.known
	case <-ctx.Done():
		s.log.Warn("feature read degraded", "card", card, "err", ctx.Err())
		return features.History{}, features.Known{}
	}
}

type reading struct {
	h     features.History
	known features.Known
}

// read is one round trip: the queued updates it takes, then the card's
// history. ctx ends its wait for a connection, not the round trip.
func (s *Store) read(ctx context.Context, card string, tx features.Transaction) reading {
	txKey, profileKey, merchantsKey := Keys(card)
	pipe := s.rdb.Pipeline()
	var ridesBuf [maxRide]update
	rides := take(s.queue, ridesBuf[:0])
	var rideCmds [maxRide]*redis.Cmd
	for i, u := range rides {
		rideCmds[i] = updateScript.EvalSha(ctx, pipe, updateKeys(u.card), updateArgs(u.tx)...)
	}
	n := len(rides)
	since := tx.Time.Add(-window).UnixMilli()
	recent := pipe.ZRangeByScoreWithScores(ctx, txKey, &redis.ZRangeBy{Min: strconv.FormatInt(since, 10), Max: "+inf"})
	profile := pipe.HGetAll(ctx, profileKey)
	var seen *redis.BoolCmd
	if tx.MerchantID != "" {
		seen = pipe.SIsMember(ctx, merchantsKey, tx.MerchantID)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) && !anyFailed(cmds) {
		// A failure before the commands ran (a refused AUTH on a new
		// connection) leaves them without an error of their own: they did
		// nothing, so none of their parts is known.
		for _, c := range cmds {
			c.SetErr(err)
		}
	}
	if n > 0 {
		s.confirm(rides, rideCmds[:n])
	}
	if anyFailed(cmds[n:]) {
		s.log.Warn("feature read degraded", "card", card, "err", err)
	}

	var h features.History
	var known features.Known
	if zs, err := recent.Result(); err == nil {
		known.Velocity = true
		for _, z := range zs {
			m, _ := z.Member.(string)
			amount, perr := parseMember(m)
			if perr != nil {
				continue // a foreign entry: ignore, do not fail
			}
			h.Recent = append(h.Recent, features.Payment{Time: time.UnixMilli(int64(z.Score)), Amount: amount})
		}
	}
	if p, err := profile.Result(); err == nil {
		known.Profile = true
		h.N, h.Mean, h.M2 = num(p["n"]), num(p["mean"]), num(p["m2"])
		if last := num(p["last_ms"]); last > 0 {
			h.Last, h.HasLast = time.UnixMilli(int64(last)), true
			h.LastX, h.LastY = num(p["last_x"]), num(p["last_y"])
		}
	}
	if seen == nil {
		known.Merchants = true
	} else if ok, err := seen.Result(); err == nil {
		known.Merchants = true
		if ok {
			h.Merchants = map[string]bool{tx.MerchantID: true}
		}
	}
	return reading{h, known}
}

// anyFailed says if a command failed; a missing key (redis.Nil) is not a
// failure.
func anyFailed(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return true
		}
	}
	return false
}

// confirm hands the updates a read carried that Redis did not confirm to
// Run, which sends them once more in a round trip of its own (loading the
// script again where Redis lost it); what does not fit is counted as failed.
func (s *Store) confirm(rides []update, cmds []*redis.Cmd) {
	lost := 0
	s.retryMu.Lock()
	for i, c := range cmds {
		if c.Err() == nil {
			continue
		}
		if s.stopped {
			lost++
			continue
		}
		select {
		case s.retry <- rides[i]:
		default:
			lost++
		}
	}
	s.retryMu.Unlock()
	if lost > 0 {
		s.failed(lost)
		s.log.Warn("feature updates failed", "failed", lost, "err", "retry queue full or store stopped")
	}
}

func num(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// members are "<unix ns>:<amount>": unique per payment time and amount.
func member(tx features.Transaction) string {
	return strconv.FormatInt(tx.Time.UnixNano(), 10) + ":" + strconv.FormatFloat(tx.Amount, 'f', -1, 64)
}

func parseMember(m string) (float64, error) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i] == ':' {
			return strconv.ParseFloat(m[i+1:], 64)
		}
	}
	return 0, fmt.Errorf("member %q", m)
}

// updateScript applies one payment atomically: the payment in the velocity
// set (trimmed to the window), Welford's running amount statistics, last
// time and place, and the merchant, each key kept for the window plus a
// day. A payment already in the set (the same time and amount: an update
// sent again because its first round trip failed before Redis confirmed
// it) changes nothing, so sending one twice is safe; it returns -1 then.
var updateScript = redis.NewScript(`
if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[3]) == 0 then return -1 end
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local mean = tonumber(redis.call('HGET', KEYS[2], 'mean') or '0')
local m2 = tonumber(redis.call('HGET', KEYS[2], 'm2') or '0')
local amount = tonumber(ARGV[2])
n = n + 1
local delta = amount - mean
mean = mean + delta / n
m2 = m2 + delta * (amount - mean)
redis.call('HSET', KEYS[2], 'n', n, 'mean', mean, 'm2', m2, 'last_ms', ARGV[1])
if ARGV[6] == '1' then redis.call('HSET', KEYS[2], 'last_x', ARGV[4], 'last_y', ARGV[5]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[7])
if ARGV[8] ~= '' then redis.call('SADD', KEYS[3], ARGV[8]); redis.call('PEXPIRE', KEYS[3], ARGV[9]) end
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
return n
`)

// Update writes a payment into the card's history now.
func (s *Store) Update(ctx context.Context, card string, tx features.Transaction) error {
	return updateScript.Run(ctx, s.rdb, updateKeys(card), updateArgs(tx)...).Err()
}

func updateKeys(card string) []string {
	txKey, profileKey, merchantsKey := Keys(card)
	return []string{txKey, profileKey, merchantsKey}
}

func updateArgs(tx features.Transaction) []any {
	hasLoc := "0"
	if tx.HasLocation {
		hasLoc = "1"
	}
	ttl := (window + 24*time.Hour).Milliseconds()
	return []any{tx.Time.UnixMilli(), tx.Amount, member(tx), tx.X, tx.Y, hasLoc,
		tx.Time.Add(-window).UnixMilli(), tx.MerchantID, ttl}
}

// Enqueue schedules an update without waiting; a full queue drops it.
func (s *Store) Enqueue(card string, tx features.Transaction) {
	select {
	case s.queue <- update{card, tx}:
		select {
		case s.pending <- struct{}{}:
		default: // Run is already told
		}
	default:
		s.dropped()
	}
}

// take appends to batch what from holds now, up to batch's capacity,
// without waiting.
func take(from chan update, batch []update) []update {
	for len(batch) < cap(batch) {
		select {
		case u := <-from:
			batch = append(batch, u)
		default:
			return batch
		}
	}
	return batch
}

// maxBatch bounds the updates of one round trip of Run's.
const maxBatch = 256

// Run sends the updates no read carried, and those a read could not
// confirm, until ctx ends; then it sends what is still queued. Told that
// the queue holds updates, it waits FlushDelay for reads to take them (under
// load they do, and Run wakes once per FlushDelay at most), then sends the
// rest in batches of what is queued, up to maxBatch. Retries go at once.
func (s *Store) Run(ctx context.Context) {
	batch := make([]update, 0, maxBatch)
	drain := func(from chan update) {
		for {
			batch = take(from, batch[:0])
			if len(batch) == 0 {
				return
			}
			s.apply(batch)
		}
	}
	wait := time.NewTimer(s.flushDelay)
	wait.Stop()
	for {
		select {
		case <-s.pending:
			wait.Reset(s.flushDelay)
			select {
			case <-wait.C:
			case <-ctx.Done():
			}
			drain(s.queue)
		case u := <-s.retry:
			batch = take(s.retry, append(batch[:0], u))
			s.apply(batch)
		case <-ctx.Done():
			// A read on the wire may still hand back updates: from here on
			// they are counted as failed, so the drain below gets all the
			// retries there will be.
			s.retryMu.Lock()
			s.stopped = true
			s.retryMu.Unlock()
			drain(s.retry)
			drain(s.queue)
			return
		}
	}
}

// apply writes a batch in one pipeline of the update script (EVALSHA). A
// Redis that lost its scripts (a restart, a failover) answers NOSCRIPT: the
// script is loaded and those updates sent once more. What still fails is
// counted and logged.
func (s *Store) apply(batch []update) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	run := func(us []update) []*redis.Cmd {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(us))
		for i, u := range us {
			cmds[i] = updateScript.EvalSha(ctx, pipe, updateKeys(u.card), updateArgs(u.tx)...)
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		return cmds
	}
	cmds := run(batch)
	var again []update
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			again = append(again, batch[i])
		}
	}
	if len(again) > 0 {
		if err := updateScript.Load(ctx, s.rdb).Err(); err == nil {
			retried := run(again)
			for i, j := 0, 0; i < len(cmds); i++ {
				if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
					cmds[i] = retried[j]
					j++
				}
			}
		}
	}
	var failed int
	var first error
	var card string
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			if failed == 0 {
				first, card = err, batch[i].card
			}
			failed++
		}
	}
	if failed > 0 {
		s.failed(failed)
		s.log.Warn("feature updates failed", "failed", failed, "batch", len(batch), "card", card, "err", first)
	}
}
