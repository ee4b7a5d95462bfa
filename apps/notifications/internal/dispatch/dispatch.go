// Package dispatch turns the fraud-alerts topic into notifications: each
// alert goes to the channels its decision calls for (a decline to every
// channel, a review to the ones for people, not the pager), at least once,
// and the same alert within the deduplication window only once. An
// alert's offset is committed only after every channel accepted it or it
// went to the dead-letter topic with the reason: nothing is lost.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/notifications/internal/channels"
	"github.com/intelliflow/platform/internal/consumer"
)

// Why an alert went to the dead-letter topic (its "reason" header).
const (
	ReasonMalformed      = "malformed"
	ReasonUnknownVersion = "unknown_version"
	ReasonRefused        = "refused"
	ReasonGivenUp        = "retries_exhausted"
)

// Config assembles a Dispatcher.
type Config struct {
	// Channels by decision ("review", "decline").
	Channels map[string][]channels.Channel
	Retry    channels.Retry
	// Window is how long an alert key is remembered: the same key again
	// within it is not sent again.
	Window time.Duration
	// DeadLetter is the topic undeliverable alerts go to.
	DeadLetter string
	// Producer writes the dead letters (the consumer's own client).
	Producer *kgo.Client
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Dispatcher handles alerts, one record at a time.
type Dispatcher struct {
	c Config
	// down are the channels that last gave up: until one of their sends
	// succeeds, an alert gets one try, not the whole retry budget, so a
	// long outage dead-letters alerts at the pace they come instead of
	// holding each one for RETRY_GIVE_UP_AFTER.
	down   map[string]bool
	seen   *lru.Cache[string, time.Time]
	now    func() time.Time
	sent   *prometheus.CounterVec
	dead   *prometheus.CounterVec
	dup    prometheus.Counter
	handle prometheus.Histogram
}

// New builds a Dispatcher and registers its metrics.
func New(c Config) *Dispatcher {
	seen, _ := lru.New[string, time.Time](100_000) // only fails for a size <= 0
	d := &Dispatcher{c: c, seen: seen, now: time.Now, down: map[string]bool{},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "notifications_sent_total",
			Help: "Alerts a channel accepted, by channel and decision."}, []string{"channel", "decision"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "notifications_dead_lettered_total",
			Help: "Alerts written to the dead-letter topic, by reason and channel (none for undecodable ones)."}, []string{"reason", "channel"}),
		dup: prometheus.NewCounter(prometheus.CounterOpts{Name: "notifications_deduplicated_total",
			Help: "Alerts not sent again: their key was sent within the deduplication window."}),
		handle: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "notifications_alert_handling_seconds",
			Help: "From an alert's occurrence in fraud to its last channel's acceptance.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 9)}),
	}
	c.Registry.MustRegister(d.sent, d.dead, d.dup, d.handle)
	for decision, chs := range c.Channels {
		for _, ch := range chs {
			d.sent.WithLabelValues(ch.Name(), decision)
		}
	}
	for _, r := range []string{ReasonMalformed, ReasonUnknownVersion} {
		d.dead.WithLabelValues(r, "")
	}
	return d
}

// Key is what deduplicates an alert: its transaction and decision (a
// payment scored twice is one notification), else its event id.
func Key(a alerts.Alert) string {
	if a.TransactionID != "" {
		return a.TransactionID + "/" + a.Decision
	}
	return a.EventID
}

// Handle delivers one record's alert. It returns nil once the record may
// be committed: delivered, deduplicated, or dead-lettered; an error only
// when a dead letter could not be written (Kafka itself failing), and the
// record must be handled again.
func (d *Dispatcher) Handle(ctx context.Context, rec *kgo.Record) error {
	var a alerts.Alert
	if err := json.Unmarshal(rec.Value, &a); err != nil || a.CardID == "" || a.Decision == "" {
		if err == nil {
			err = errors.New("card_id and decision are required")
		}
		return d.deadLetter(ctx, rec, ReasonMalformed, "", err)
	}
	if a.Version != alerts.SchemaVersion {
		return d.deadLetter(ctx, rec, ReasonUnknownVersion, "", fmt.Errorf("version %d, this consumer reads %d", a.Version, alerts.SchemaVersion))
	}
	key := Key(a)
	if at, ok := d.seen.Get(key); ok && d.now().Sub(at) < d.c.Window {
		d.dup.Inc()
		return nil
	}
	for _, ch := range d.c.Channels[a.Decision] {
		retry := d.c.Retry
		if d.down[ch.Name()] {
			retry.MaxElapsed = retry.Initial
		}
		tries, err := channels.Deliver(ctx, ch, a, retry)
		d.down[ch.Name()] = err != nil && !channels.IsPermanent(err) && ctx.Err() == nil
		switch {
		case err == nil:
			d.sent.WithLabelValues(ch.Name(), a.Decision).Inc()
		case ctx.Err() != nil:
			return ctx.Err() // stopping: the record is handled again after restart
		case channels.IsPermanent(err):
			if err := d.deadLetter(ctx, rec, ReasonRefused, ch.Name(), err); err != nil {
				return err
			}
		default:
			d.c.Log.Warn("channel kept failing; alert dead-lettered", "channel", ch.Name(), "tries", tries, "event_id", a.EventID, "error", err.Error())
			if err := d.deadLetter(ctx, rec, ReasonGivenUp, ch.Name(), err); err != nil {
				return err
			}
		}
	}
	d.seen.Add(key, d.now())
	if !a.OccurredAt.IsZero() {
		d.handle.Observe(d.now().Sub(a.OccurredAt).Seconds())
	}
	return nil
}

// deadLetter writes rec to the dead-letter topic with why (and for which
// channel, so a replay can target it).
func (d *Dispatcher) deadLetter(ctx context.Context, rec *kgo.Record, reason, channel string, cause error) error {
	var extra []kgo.RecordHeader
	if channel != "" {
		extra = append(extra, kgo.RecordHeader{Key: "channel", Value: []byte(channel)})
	}
	if err := consumer.DeadLetter(ctx, d.c.Producer, d.c.DeadLetter, rec, reason, cause, extra...); err != nil {
		return err
	}
	d.dead.WithLabelValues(reason, channel).Inc()
	d.c.Log.Warn("alert dead-lettered", "reason", reason, "channel", channel, "source", consumer.Source(rec), "error", cause.Error())
	return nil
}
