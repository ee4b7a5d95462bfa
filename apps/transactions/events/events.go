// Package events is the contract of the transactions.events topic: what
// the transactions service publishes (from its outbox, at least once) for
// each transaction booked or settled, and what analytics and the e2e tests
// read. Records are keyed by account, so one account's events keep their
// order on one partition.
package events

import "time"

// SchemaVersion is the version of Event's JSON; consumers dead-letter
// versions they do not know.
const SchemaVersion = 1

// Event types.
const (
	// Created is a transaction booked: approved, held for review, or
	// declined by fraud scoring.
	Created = "transaction.created"
	// Reviewed is a held transaction an admin approved or declined.
	Reviewed = "transaction.reviewed"
)

// Statuses of a transaction.
const (
	Approved = "approved"
	Held     = "held"
	Declined = "declined"
)

// Kinds of transaction.
const (
	Payment  = "payment"  // to a merchant, outside the platform
	Transfer = "transfer" // between two accounts
	Deposit  = "deposit"  // money in, by an admin
)

// Event is one record's value.
type Event struct {
	// EventID is unique per event; a record published twice (the outbox
	// retrying) carries the same one.
	EventID     string      `json:"event_id"`
	Version     int         `json:"version"`
	Type        string      `json:"type"`
	OccurredAt  time.Time   `json:"occurred_at"`
	Transaction Transaction `json:"transaction"`
}

// Transaction is one movement of money.
type Transaction struct {
	ID          string `json:"id"`
	OwnerID     string `json:"owner_id"`
	Kind        string `json:"kind"`
	AccountID   string `json:"account_id"`
	ToAccountID string `json:"to_account_id,omitempty"`
	MerchantID  string `json:"merchant_id,omitempty"`
	// Amount is in the currency's minor units.
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	Fraud     Fraud     `json:"fraud"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Fraud is what fraud scoring said, or that it could not.
type Fraud struct {
	Checked  bool     `json:"checked"`
	Score    *float64 `json:"score,omitempty"`
	Decision string   `json:"decision,omitempty"`
	Model    string   `json:"model,omitempty"`
}
