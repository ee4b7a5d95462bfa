// Package consumer runs a service's Kafka consumer group the way the
// platform's event services need it: at least once (an offset is committed
// only after its record was handled), no member handing a poll's records to
// another mid-way (a rebalance waits for the poll), a failed handling tried
// again with backoff rather than skipped, poison records written to a
// dead-letter topic with why, and kafka_consumer_lag exported for the
// KafkaConsumerLagHigh rule.
package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/intelliflow/platform/internal/kafkaclient"
)

// Options make a client a member of group reading topics that commits only
// what Run marked handled, is not rebalanced while it handles a poll's
// records (another member would handle them again), and starts a new
// group at the topics' beginning.
func Options(group string, topics ...string) []kgo.Opt {
	return []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...), kgo.AutoCommitMarks(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
}

// Join connects to Kafka as a member of group reading topics (Options),
// and creates deadLetter, the topic the service owns. Kafka may be down at
// start: the service starts all the same and says so; a dead letter is
// then retried until it can be written.
func Join(ctx context.Context, k kafkaclient.Config, group, deadLetter string, topics []string, log *slog.Logger) (*kgo.Client, error) {
	client, err := k.Client(ctx, Options(group, topics...)...)
	if err != nil {
		return nil, err
	}
	if err := kafkaclient.EnsureTopics(ctx, client, k, deadLetter); err != nil {
		log.Warn("dead-letter topic not ensured; dead letters wait until Kafka answers", "topic", deadLetter, "error", err.Error())
	}
	return client, nil
}

// NewLag is kafka_consumer_lag for service's group: records behind the
// high watermark, by topic and partition.
func NewLag(reg prometheus.Registerer, service, group string) *prometheus.GaugeVec {
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kafka_consumer_lag",
		Help:        "Records the consumer group is behind the partition's high watermark.",
		ConstLabels: prometheus.Labels{"service": service, "group": group}}, []string{"topic", "partition"})
	reg.MustRegister(lag)
	return lag
}

// Handler handles records of one partition, in order, and returns how many
// of the leading ones are done (may be committed). With an error, Run
// waits and calls it again with the records not done, so it must be
// idempotent for them.
type Handler func(ctx context.Context, recs []*kgo.Record) (done int, err error)

// EachRecord is a Handler that handles one record at a time with handle,
// stopping at the first that fails.
func EachRecord(handle func(context.Context, *kgo.Record) error) Handler {
	return func(ctx context.Context, recs []*kgo.Record) (int, error) {
		for i, rec := range recs {
			if err := handle(ctx, rec); err != nil {
				return i, err
			}
		}
		return len(recs), nil
	}
}

// Run polls with client (made with Options) and hands each partition's
// records to h, committing what was done after each poll, until ctx ends.
func Run(ctx context.Context, client *kgo.Client, h Handler, lag *prometheus.GaugeVec, log *slog.Logger) {
	// A member blocked from rebalancing could not leave the group either.
	defer client.AllowRebalance()
	for ctx.Err() == nil {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			log.Warn("fetch failed", "topic", topic, "partition", partition, "error", err.Error())
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			handle(ctx, client, h, p, lag, log)
		})
		if err := client.CommitMarkedOffsets(ctx); err != nil && ctx.Err() == nil {
			log.Warn("commit failed; the records are handled again after a rebalance", "error", err.Error())
		}
		client.AllowRebalance()
	}
}

// handle works through one partition's records until all are done or ctx
// ends; what fails is tried again after a growing pause.
func handle(ctx context.Context, client *kgo.Client, h Handler, p kgo.FetchTopicPartition, lag *prometheus.GaugeVec, log *slog.Logger) {
	recs := p.Records
	pause := backoff.NewExponentialBackOff()
	for len(recs) > 0 && ctx.Err() == nil {
		n, err := h(ctx, recs)
		if n > 0 {
			client.MarkCommitRecords(recs[:n]...)
			lag.WithLabelValues(p.Topic, fmt.Sprint(p.Partition)).Set(float64(p.HighWatermark - recs[n-1].Offset - 1))
			recs = recs[n:]
			pause.Reset()
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		wait := pause.NextBackOff()
		log.Warn("handling failed; trying again", "topic", p.Topic, "partition", p.Partition, "offset", recs[0].Offset,
			"retry_in", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// DeadLetter writes rec to topic as it came, with reason, the error and
// where it came from in its headers (plus extra ones), so it can be
// replayed once fixed. It waits for Kafka's acknowledgement: only then may
// the record be committed.
func DeadLetter(ctx context.Context, producer *kgo.Client, topic string, rec *kgo.Record, reason string, cause error, extra ...kgo.RecordHeader) error {
	headers := append([]kgo.RecordHeader{}, rec.Headers...)
	headers = append(headers,
		kgo.RecordHeader{Key: "reason", Value: []byte(reason)},
		kgo.RecordHeader{Key: "error", Value: []byte(cause.Error())},
		kgo.RecordHeader{Key: "source", Value: []byte(Source(rec))})
	headers = append(headers, extra...)
	dl := &kgo.Record{Topic: topic, Key: rec.Key, Value: rec.Value, Headers: headers}
	if err := producer.ProduceSync(ctx, dl).FirstErr(); err != nil {
		return fmt.Errorf("dead letter to %s: %w", topic, err)
	}
	return nil
}

// Source names where a record came from: topic/partition/offset.
func Source(rec *kgo.Record) string {
	return fmt.Sprintf("%s/%d/%d", rec.Topic, rec.Partition, rec.Offset)
}
