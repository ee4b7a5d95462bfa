// Package outbox publishes the events the transactions service writes to
// its outbox table, in the same database transaction as the payments they
// describe, to Kafka: an acknowledged payment's event is in PostgreSQL
// before the client hears back, so a Kafka outage delays events and loses
// none. One replica at a time relays (it holds an advisory lock), so events
// leave in the order they were written.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// leaderLock is the advisory lock the relaying replica holds; the number
// is arbitrary but fixed.
const leaderLock = 727_401_101

// Relay moves outbox rows to Kafka.
type Relay struct {
	db      *pgxpool.Pool
	kafka   *kgo.Client
	log     *slog.Logger
	pending prometheus.Gauge
	sent    prometheus.Counter
	// Batch is how many rows one round publishes; Idle is how long it waits
	// when the outbox is empty.
	Batch int
	Idle  time.Duration
}

// New relays with kafka (a producer client) and registers the metrics.
func New(db *pgxpool.Pool, kafka *kgo.Client, log *slog.Logger, reg prometheus.Registerer) *Relay {
	r := &Relay{db: db, kafka: kafka, log: log, Batch: 500, Idle: 50 * time.Millisecond,
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "transactions_outbox_pending",
			Help: "Payment events written but not yet on Kafka (every replica reports the whole outbox)."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "transactions_outbox_published_total", Help: "Events published to Kafka."}),
	}
	reg.MustRegister(r.pending, r.sent)
	return r
}

// Run relays until ctx ends: it waits to be the one replica relaying, then
// publishes rounds, backing off while Kafka or PostgreSQL fail.
func (r *Relay) Run(ctx context.Context) {
	go r.measure(ctx)
	for ctx.Err() == nil {
		if err := r.lead(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay stopped; retrying", "error", err.Error())
			sleep(ctx, time.Second)
		}
	}
}

// lead takes the leader lock on a connection of its own and relays while it
// holds it; another replica takes over when this one's connection ends.
func (r *Relay) lead(ctx context.Context) error {
	conn, err := r.db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var leader bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaderLock).Scan(&leader); err != nil {
		return err
	}
	if !leader {
		sleep(ctx, time.Second)
		return nil
	}
	defer func() { _, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, leaderLock) }()
	r.log.Info("relaying the outbox")
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		n, err := r.round(ctx)
		switch {
		case err != nil:
			r.log.Warn("outbox round failed; retrying", "error", err.Error(), "backoff", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			// The lock's connection must still be alive to go on leading.
			if err := conn.Ping(ctx); err != nil {
				return err
			}
		case n == 0:
			backoff = 100 * time.Millisecond
			sleep(ctx, r.Idle)
		default:
			backoff = 100 * time.Millisecond
		}
	}
	// Stopping: publish what the last requests booked, for a few seconds
	// at most (whatever is left waits for the next leader).
	final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if n, err := r.round(final); err != nil || n == 0 {
			return nil
		}
	}
}

// round publishes the oldest unsent rows and marks those Kafka took; it
// returns how many were sent.
func (r *Relay) round(ctx context.Context) (int, error) {
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // after Commit it is a no-op
	rows, err := tx.Query(ctx, `SELECT id, topic, key, payload FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE`, r.Batch)
	if err != nil {
		return 0, err
	}
	type row struct {
		id         int64
		topic, key string
		payload    json.RawMessage
	}
	batch, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
		var x row
		return x, cr.Scan(&x.id, &x.topic, &x.key, &x.payload)
	})
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	records := make([]*kgo.Record, len(batch))
	for i, x := range batch {
		records[i] = &kgo.Record{Topic: x.topic, Key: []byte(x.key), Value: x.payload}
	}
	results := r.kafka.ProduceSync(ctx, records...)
	var sent []int64
	var failed error
	for i, res := range results {
		if res.Err != nil {
			failed = errors.Join(failed, res.Err)
			continue
		}
		sent = append(sent, batch[i].id)
	}
	// Mark what Kafka took even when some failed, so a retry sends only the
	// rest: a retry never duplicates an event Kafka acknowledged.
	if len(sent) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET sent_at = now() WHERE id = ANY($1)`, sent); err != nil {
			return 0, err
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, err
		}
		r.sent.Add(float64(len(sent)))
	}
	if failed != nil {
		return len(sent), errors.Join(errors.New("kafka refused some events"), failed)
	}
	return len(sent), nil
}

// measure reports the backlog every few seconds, and deletes events sent
// more than a week ago.
func (r *Relay) measure(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	last := time.Time{}
	for {
		var n int64
		if err := r.db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err == nil {
			r.pending.Set(float64(n))
		}
		if time.Since(last) > time.Hour {
			if _, err := r.db.Exec(ctx, `DELETE FROM outbox WHERE sent_at < now() - interval '7 days'`); err == nil {
				last = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
