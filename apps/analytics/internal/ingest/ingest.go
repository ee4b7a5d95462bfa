// Package ingest turns the records analytics consumes (transactions.events
// and fraud-alerts) into facts for the store, a poll's records at a time.
// A record that cannot be a fact (not JSON, missing what a fact needs, a
// schema version or event type this consumer does not know) goes to the
// dead-letter topic with the reason, and the rest are stored; nothing is
// skipped silently.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/analytics/internal/store"
	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/transactions/events"
	"github.com/intelliflow/platform/internal/consumer"
)

// Why a record went to the dead-letter topic (its "reason" header).
const (
	ReasonMalformed      = "malformed"
	ReasonUnknownVersion = "unknown_version"
	ReasonUnknownType    = "unknown_type"
	ReasonUnknownTopic   = "unknown_topic"
)

// Unscored is the decision of a transaction fraud did not score (its
// fallback decided).
const Unscored = "unscored"

// Config assembles an Ingester.
type Config struct {
	Store *store.Store
	// TransactionsTopic and AlertsTopic say which decoder a record needs.
	TransactionsTopic, AlertsTopic string
	DeadLetter                     string
	// Producer writes the dead letters (the consumer's own client).
	Producer *kgo.Client
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Ingester handles records.
type Ingester struct {
	c              Config
	applied, dupes *prometheus.CounterVec
	dead           *prometheus.CounterVec
}

// New builds an Ingester and registers its metrics.
func New(c Config) *Ingester {
	in := &Ingester{c: c,
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_events_applied_total",
			Help: "Events added to the aggregates, by topic."}, []string{"topic"}),
		dupes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_events_duplicate_total",
			Help: "Events seen before (by event id): not counted again, by topic."}, []string{"topic"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_events_dead_lettered_total",
			Help: "Records written to the dead-letter topic, by topic and reason."}, []string{"topic", "reason"}),
	}
	c.Registry.MustRegister(in.applied, in.dupes, in.dead)
	for _, t := range []string{c.TransactionsTopic, c.AlertsTopic} {
		in.applied.WithLabelValues(t)
		in.dupes.WithLabelValues(t)
		for _, r := range []string{ReasonMalformed, ReasonUnknownVersion} {
			in.dead.WithLabelValues(t, r)
		}
	}
	return in
}

// rejected is a record that cannot become a fact.
type rejected struct {
	reason string
	err    error
}

func (r *rejected) Error() string { return r.reason + ": " + r.err.Error() }

func reject(reason string, format string, args ...any) error {
	return &rejected{reason: reason, err: fmt.Errorf(format, args...)}
}

// Handle is a consumer.Handler: it dead-letters what cannot be a fact and
// stores the rest; all of recs are done, or none (storing again is
// harmless: facts are kept by event id).
func (in *Ingester) Handle(ctx context.Context, recs []*kgo.Record) (int, error) {
	facts := make([]store.Fact, 0, len(recs))
	var letters []*kgo.Record
	var reasons []*rejected
	for _, rec := range recs {
		f, ok, err := in.fact(rec)
		var rj *rejected
		switch {
		case errors.As(err, &rj):
			letters, reasons = append(letters, rec), append(reasons, rj)
		case ok:
			facts = append(facts, f.From(rec.Topic, rec.Partition, rec.Offset))
		}
	}
	applied, err := in.c.Store.Apply(ctx, facts)
	if err != nil {
		return 0, err
	}
	// Dead letters after the facts: a stop between the two sends the
	// letters again (a copy in the dead-letter topic), never loses them.
	for i, rec := range letters {
		if err := consumer.DeadLetter(ctx, in.c.Producer, in.c.DeadLetter, rec, reasons[i].reason, reasons[i].err); err != nil {
			return 0, err
		}
	}
	for i, rec := range letters {
		in.dead.WithLabelValues(rec.Topic, reasons[i].reason).Inc()
		in.c.Log.Warn("event dead-lettered", "reason", reasons[i].reason, "source", consumer.Source(rec), "error", reasons[i].err.Error())
	}
	if len(recs) > 0 {
		topic := recs[0].Topic // a Handler gets one partition's records
		in.applied.WithLabelValues(topic).Add(float64(applied.Counted))
		in.dupes.WithLabelValues(topic).Add(float64(applied.Duplicates))
	}
	return len(recs), nil
}

// fact is rec's fact; ok is false for an event that adds nothing (a
// deposit), and the error a *rejected for one that cannot be read.
func (in *Ingester) fact(rec *kgo.Record) (store.Fact, bool, error) {
	switch rec.Topic {
	case in.c.TransactionsTopic:
		return transactionFact(rec.Value)
	case in.c.AlertsTopic:
		f, err := alertFact(rec.Value)
		return f, err == nil, err
	}
	return store.Fact{}, false, reject(ReasonUnknownTopic, "topic %q is not consumed here", rec.Topic)
}

func transactionFact(value []byte) (store.Fact, bool, error) {
	var e events.Event
	if err := json.Unmarshal(value, &e); err != nil {
		return store.Fact{}, false, reject(ReasonMalformed, "%v", err)
	}
	if e.Version != events.SchemaVersion {
		return store.Fact{}, false, reject(ReasonUnknownVersion, "version %d, this consumer reads %d", e.Version, events.SchemaVersion)
	}
	t := e.Transaction
	switch {
	case e.EventID == "" || e.OccurredAt.IsZero():
		return store.Fact{}, false, reject(ReasonMalformed, "event_id and occurred_at are required")
	case t.ID == "" || t.Kind == "" || len(t.Currency) != 3 || t.Amount < 0:
		return store.Fact{}, false, reject(ReasonMalformed, "transaction id, kind, a 3-letter currency and an amount >= 0 are required")
	}
	// Deposits are money an admin put in: no payment, no fraud decision.
	if t.Kind == events.Deposit {
		return store.Fact{}, false, nil
	}
	decision := t.Fraud.Decision
	if !t.Fraud.Checked || decision == "" {
		decision = Unscored
	}
	var c store.Counts
	switch e.Type {
	case events.Created:
		c = store.Counts{Transactions: 1, Amount: t.Amount}
	case events.Reviewed:
		switch t.Status {
		case events.Approved:
			c.ReviewsApproved = 1
		case events.Declined:
			c.ReviewsDeclined = 1
		default:
			return store.Fact{}, false, reject(ReasonMalformed, "a review settles to approved or declined, not %q", t.Status)
		}
	default:
		return store.Fact{}, false, reject(ReasonUnknownType, "event type %q", e.Type)
	}
	return store.NewFact("tx:"+e.EventID, e.OccurredAt, t.MerchantID, t.Currency, decision, c), true, nil
}

func alertFact(value []byte) (store.Fact, error) {
	var a alerts.Alert
	if err := json.Unmarshal(value, &a); err != nil {
		return store.Fact{}, reject(ReasonMalformed, "%v", err)
	}
	if a.Version != alerts.SchemaVersion {
		return store.Fact{}, reject(ReasonUnknownVersion, "version %d, this consumer reads %d", a.Version, alerts.SchemaVersion)
	}
	if a.EventID == "" || a.OccurredAt.IsZero() || a.Decision == "" || a.Score < 0 || a.Score > 1 {
		return store.Fact{}, reject(ReasonMalformed, "event_id, occurred_at, a decision and a score in [0,1] are required")
	}
	return store.NewFact("alert:"+a.EventID, a.OccurredAt, a.MerchantID, a.Currency, a.Decision,
		store.Counts{Alerts: 1, AlertScoreSum: a.Score}), nil
}
