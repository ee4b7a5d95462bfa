// Package labels is the contract of the fraud-labels topic: what became
// of a scored payment, once someone knows. Chargebacks come from the card
// processor's feed (fraud), analysts' verdicts from case handling; the
// orchestrator joins them to fraud's decisions to measure the serving
// model on live traffic. Analysts' reviews of held payments also arrive as
// transaction.reviewed events on transactions.events.
package labels

import "time"

// SchemaVersion is the version of Label's JSON.
const SchemaVersion = 1

// Topic is where labels are published.
const Topic = "fraud-labels"

// Sources of a label.
const (
	Chargeback = "chargeback"
	Analyst    = "analyst"
)

// Label is one record's value, keyed by transaction id.
type Label struct {
	EventID       string    `json:"event_id"`
	Version       int       `json:"version"`
	TransactionID string    `json:"transaction_id"`
	Fraud         bool      `json:"fraud"`
	Source        string    `json:"source"`
	OccurredAt    time.Time `json:"occurred_at"`
}
