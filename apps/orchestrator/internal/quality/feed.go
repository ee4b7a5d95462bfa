package quality

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/apps/orchestrator/labels"
	"github.com/intelliflow/platform/apps/transactions/events"
)

// ClientOptions read transactionsTopic and the labels topic from window
// ago, outside any consumer group: each orchestrator rebuilds the window
// at start and commits nothing (it changes nothing the records describe).
func ClientOptions(transactionsTopic, labelsTopic string, window time.Duration) []kgo.Opt {
	return []kgo.Opt{kgo.ConsumeTopics(transactionsTopic, labelsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(time.Now().Add(-window).UnixMilli()))}
}

// Feed hands the records client polls to t until ctx ends. A record it
// cannot read is skipped and counted in the log: these are the producers'
// topics, whose consumers dead-letter them.
func Feed(ctx context.Context, client *kgo.Client, t *Tracker, labelsTopic string, log *slog.Logger) {
	skipped := 0
	for ctx.Err() == nil {
		fetches := client.PollFetches(ctx)
		fetches.EachRecord(func(rec *kgo.Record) {
			if !t.record(rec, labelsTopic) {
				skipped++
				if skipped == 1 || skipped%1000 == 0 {
					log.Warn("records not understood, skipped", "count", skipped, "topic", rec.Topic, "offset", rec.Offset)
				}
			}
		})
	}
}

// record takes one record; false when it could not be read.
func (t *Tracker) record(rec *kgo.Record, labelsTopic string) bool {
	if rec.Topic == labelsTopic {
		var l labels.Label
		if json.Unmarshal(rec.Value, &l) != nil || l.Version != labels.SchemaVersion || l.TransactionID == "" {
			return false
		}
		t.Label(l.TransactionID, l.Fraud, l.OccurredAt)
		return true
	}
	var e events.Event
	if json.Unmarshal(rec.Value, &e) != nil || e.Version != events.SchemaVersion {
		return false
	}
	tx := e.Transaction
	switch {
	case e.Type == events.Created && tx.Fraud.Checked && tx.Fraud.Score != nil:
		t.Decision(tx.ID, *tx.Fraud.Score, e.OccurredAt)
	case e.Type == events.Reviewed && (tx.Status == events.Declined || tx.Status == events.Approved):
		// An analyst declining a held payment judged it fraud.
		t.Label(tx.ID, tx.Status == events.Declined, e.OccurredAt)
	}
	return true
}
