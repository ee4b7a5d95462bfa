package alerts

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const topic = "fraud-alerts"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func decline(card string) Alert {
	return Alert{TransactionID: "t-" + card, CardID: card, Amount: 950, Currency: "EUR", Score: 0.97, Decision: "decline",
		Model: Model{Name: "fraud", Version: "2026-11-01"}, Reasons: []Reason{{Feature: "amount_z", Contribution: 1.2}}}
}

// TestPublishedAlertsArriveKeyedByCard: every alert handed over is on the
// topic once, keyed by its card, in the documented schema.
func TestPublishedAlertsArriveKeyedByCard(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	require.NoError(t, err)
	defer cluster.Close()
	client, err := kgo.NewClient(append(ClientOptions(100, 5*time.Second), kgo.SeedBrokers(cluster.ListenAddrs()...))...)
	require.NoError(t, err)
	defer client.Close()
	p := New(client, topic, prometheus.NewRegistry(), quiet())
	for _, card := range []string{"c1", "c2", "c3"} {
		p.Publish(decline(card))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, 3.0, testutil.ToFloat64(p.published))

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(topic))
	require.NoError(t, err)
	defer consumer.Close()
	seen := map[string]Alert{}
	for len(seen) < 3 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var a Alert
			require.NoError(t, json.Unmarshal(r.Value, &a))
			require.Equal(t, string(r.Key), a.CardID)
			seen[a.CardID] = a
		})
	}
	require.Len(t, seen, 3)
	a := seen["c2"]
	require.Equal(t, SchemaVersion, a.Version)
	require.NotEmpty(t, a.EventID)
	require.Equal(t, "decline", a.Decision)
	require.Equal(t, "t-c2", a.TransactionID)
	require.Equal(t, Model{Name: "fraud", Version: "2026-11-01"}, a.Model)
}

// TestKafkaDownNeverBlocksAndCountsEveryLoss: with no broker answering, a
// full buffer drops at once (the request never waits), and what was
// buffered fails when its delivery time runs out: every alert is either
// published or counted as dropped.
func TestKafkaDownNeverBlocksAndCountsEveryLoss(t *testing.T) {
	client, err := kgo.NewClient(append(ClientOptions(5, time.Second), kgo.SeedBrokers("127.0.0.1:1"))...)
	require.NoError(t, err)
	defer client.Close()
	p := New(client, topic, prometheus.NewRegistry(), quiet())
	for i := range 20 {
		p.Publish(decline(string(rune('a' + i))))
	}
	// Past the buffer, refused without waiting for Kafka (the client's
	// promise worker counts them a moment later).
	require.Eventually(t, func() bool { return testutil.ToFloat64(p.dropped.WithLabelValues(DroppedBufferFull)) == 15 },
		5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, 5.0, testutil.ToFloat64(p.dropped.WithLabelValues(DroppedDelivery)))
	require.Zero(t, testutil.ToFloat64(p.published))
}
