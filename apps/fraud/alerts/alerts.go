// Package alerts publishes fraud's review and decline decisions to Kafka
// (fraud-alerts), where notifications and analytics read them, without
// slowing the scoring path: a decision is handed to the Kafka client's
// bounded buffer and the request goes on. When the buffer is full (Kafka
// unreachable for long enough) an alert is dropped and counted, never
// waited for; at shutdown what is buffered is flushed.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SchemaVersion is the version of Alert's JSON; consumers dead-letter
// versions they do not know.
const SchemaVersion = 1

// Alert is one review or decline decision.
type Alert struct {
	EventID       string    `json:"event_id"`
	Version       int       `json:"version"`
	OccurredAt    time.Time `json:"occurred_at"`
	TransactionID string    `json:"transaction_id,omitempty"`
	CardID        string    `json:"card_id"`
	Amount        float64   `json:"amount"`
	Currency      string    `json:"currency,omitempty"`
	MerchantID    string    `json:"merchant_id,omitempty"`
	Score         float64   `json:"score"`
	Decision      string    `json:"decision"`
	Model         Model     `json:"model"`
	Reasons       []Reason  `json:"reasons"`
	// Degraded is a decision made without the card's history.
	Degraded bool `json:"degraded"`
}

// Model is the model that decided.
type Model struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Reason is a feature that raised the score.
type Reason struct {
	Feature      string  `json:"feature"`
	Contribution float64 `json:"contribution"`
}

// Why an alert did not reach Kafka.
const (
	DroppedBufferFull = "buffer_full"
	DroppedDelivery   = "delivery_failed"
	DroppedEncoding   = "encoding"
)

// Publisher hands alerts to Kafka.
type Publisher struct {
	client    *kgo.Client
	topic     string
	log       *slog.Logger
	published prometheus.Counter
	dropped   *prometheus.CounterVec
}

// ClientOptions are the producer options a Publisher's client needs:
// buffered records bounded at buffer (past it an alert is dropped, not
// waited for), every replica acknowledging, idempotent, and a record
// given up after deliveryTimeout.
func ClientOptions(buffer int, deliveryTimeout time.Duration) []kgo.Opt {
	return []kgo.Opt{
		kgo.MaxBufferedRecords(buffer),
		kgo.RecordDeliveryTimeout(deliveryTimeout),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
}

// New publishes to topic through client (made with ClientOptions), with
// its metrics on reg.
func New(client *kgo.Client, topic string, reg prometheus.Registerer, log *slog.Logger) *Publisher {
	p := &Publisher{
		client: client, topic: topic, log: log,
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_alerts_published_total",
			Help: "Review and decline decisions Kafka acknowledged on the alerts topic."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fraud_alerts_dropped_total",
			Help: "Review and decline decisions that never reached Kafka, by reason: buffer_full, delivery_failed or encoding."}, []string{"reason"}),
	}
	reg.MustRegister(p.published, p.dropped)
	for _, r := range []string{DroppedBufferFull, DroppedDelivery, DroppedEncoding} {
		p.dropped.WithLabelValues(r)
	}
	return p
}

// Publish hands a to the client and returns at once; the outcome is
// counted when Kafka answers (or, past the buffer, a moment later by the
// client's promise worker). The record is keyed by card, so one card's
// alerts stay in order on one partition.
func (p *Publisher) Publish(a Alert) {
	a.Version = SchemaVersion
	if a.EventID == "" {
		a.EventID = uuid.NewString()
	}
	if a.Reasons == nil {
		a.Reasons = []Reason{}
	}
	value, err := json.Marshal(a)
	if err != nil {
		p.dropped.WithLabelValues(DroppedEncoding).Inc()
		p.log.Error("alert not encoded", "transaction_id", a.TransactionID, "error", err.Error())
		return
	}
	// The context only bounds waiting for buffer space, which TryProduce
	// never does.
	p.client.TryProduce(context.Background(), &kgo.Record{Topic: p.topic, Key: []byte(a.CardID), Value: value}, func(_ *kgo.Record, err error) {
		switch {
		case err == nil:
			p.published.Inc()
		case errors.Is(err, kgo.ErrMaxBuffered):
			p.dropped.WithLabelValues(DroppedBufferFull).Inc()
		default:
			p.dropped.WithLabelValues(DroppedDelivery).Inc()
			p.log.Warn("alert not delivered", "transaction_id", a.TransactionID, "event_id", a.EventID, "error", err.Error())
		}
	})
}

// Flush waits until every buffered alert is acknowledged or failed, or ctx
// ends; what is still buffered then is counted as failed when the client
// closes.
func (p *Publisher) Flush(ctx context.Context) error { return p.client.Flush(ctx) }
