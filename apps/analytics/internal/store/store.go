// Package store keeps analytics' aggregates in a MongoDB-protocol store
// (DocumentDB in AWS, FerretDB on one machine): per hour, merchant,
// currency and fraud decision, the transactions booked and their amount,
// fraud's alerts and their scores, and the reviews that settled held
// payments.
//
// Each event becomes a fact stored under its event id, and a bucket's
// aggregate is recomputed from its facts, never incremented: an event
// delivered twice (Kafka's at least once, the outbox publishing again) is
// one fact, and a consumer that stops between the two writes recomputes
// the same aggregate when the events come again. Two consumers recomputing
// one bucket cannot put back an older view: an aggregate is replaced only
// by one over more facts.
package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections.
const (
	FactsCollection  = "analytics_facts"
	HourlyCollection = "analytics_hourly"
)

// Fact is what one event adds to its bucket.
type Fact struct {
	// ID is the event's id, prefixed by its source ("tx:", "alert:") so
	// the two topics' ids cannot collide.
	ID       string    `bson:"_id"`
	Bucket   string    `bson:"bucket"`
	Hour     time.Time `bson:"hour"`
	Merchant string    `bson:"merchant"`
	Currency string    `bson:"currency"`
	Decision string    `bson:"decision"`
	Counts   `bson:",inline"`
}

// Counts are what a bucket adds up.
type Counts struct {
	Transactions int64 `bson:"transactions" json:"transactions"`
	// Amount is the transactions' total in the currency's minor units.
	Amount          int64   `bson:"amount" json:"amount"`
	Alerts          int64   `bson:"alerts" json:"alerts"`
	AlertScoreSum   float64 `bson:"alert_score_sum" json:"-"`
	ReviewsApproved int64   `bson:"reviews_approved" json:"reviews_approved"`
	ReviewsDeclined int64   `bson:"reviews_declined" json:"reviews_declined"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Transactions += o.Transactions
	c.Amount += o.Amount
	c.Alerts += o.Alerts
	c.AlertScoreSum += o.AlertScoreSum
	c.ReviewsApproved += o.ReviewsApproved
	c.ReviewsDeclined += o.ReviewsDeclined
}

// NewFact is the fact of event id in the bucket of (at's hour, merchant,
// currency, decision).
func NewFact(id string, at time.Time, merchant, currency, decision string, c Counts) Fact {
	hour := at.UTC().Truncate(time.Hour)
	return Fact{ID: id, Hour: hour, Merchant: merchant, Currency: currency, Decision: decision, Counts: c,
		Bucket: fmt.Sprintf("%s|%s|%s|%s", hour.Format(time.RFC3339), merchant, currency, decision)}
}

// Row is one bucket's aggregate.
type Row struct {
	Bucket   string    `bson:"_id"`
	Hour     time.Time `bson:"hour"`
	Merchant string    `bson:"merchant"`
	Currency string    `bson:"currency"`
	Decision string    `bson:"decision"`
	// Facts is how many events the aggregate is over.
	Facts  int64 `bson:"facts"`
	Counts `bson:",inline"`
}

// Store reads and writes the collections.
type Store struct {
	facts, hourly *mongo.Collection
}

// New uses db's collections.
func New(db *mongo.Database) *Store {
	return &Store{facts: db.Collection(FactsCollection), hourly: db.Collection(HourlyCollection)}
}

// EnsureIndexes creates the indexes the writes and queries use that do
// not exist yet. Only the missing ones are asked for: FerretDB v1.24 drops
// the connection when asked to create an index that exists (tried here).
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for coll, keys := range map[*mongo.Collection][]bson.D{
		s.facts:  {{{Key: "bucket", Value: 1}}, {{Key: "hour", Value: 1}}},
		s.hourly: {{{Key: "hour", Value: 1}, {Key: "merchant", Value: 1}}},
	} {
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("%s indexes: %w", coll.Name(), err)
		}
		for _, k := range keys {
			name := indexName(k)
			if slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == name }) {
				continue
			}
			if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: k, Options: options.Index().SetName(name)}); err != nil {
				return fmt.Errorf("%s index %s: %w", coll.Name(), name, err)
			}
		}
	}
	return nil
}

// indexName is the name MongoDB gives an index of keys: field_1_field_1.
func indexName(keys bson.D) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s_%v", k.Key, k.Value))
	}
	return strings.Join(parts, "_")
}

// Applied is what Apply did.
type Applied struct {
	// New facts, and Duplicates: facts already stored (events seen before).
	New, Duplicates int
	Buckets         int
}

// Apply stores facts (those already stored are left as they are) and
// recomputes the aggregates of their buckets.
func (s *Store) Apply(ctx context.Context, facts []Fact) (Applied, error) {
	if len(facts) == 0 {
		return Applied{}, nil
	}
	writes := make([]mongo.WriteModel, 0, len(facts))
	var buckets []string
	for _, f := range facts {
		writes = append(writes, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: f.ID}}).
			SetUpdate(bson.D{{Key: "$setOnInsert", Value: f}}).SetUpsert(true))
		if !slices.Contains(buckets, f.Bucket) {
			buckets = append(buckets, f.Bucket)
		}
	}
	res, err := s.facts.BulkWrite(ctx, writes, options.BulkWrite().SetOrdered(false))
	if err != nil {
		return Applied{}, fmt.Errorf("store facts: %w", err)
	}
	out := Applied{New: int(res.UpsertedCount), Duplicates: len(facts) - int(res.UpsertedCount), Buckets: len(buckets)}
	return out, s.recompute(ctx, buckets)
}

// recompute replaces each bucket's aggregate with the sum of its facts,
// unless the one stored is over as many facts or more (another consumer
// got there with a view at least as new).
func (s *Store) recompute(ctx context.Context, buckets []string) error {
	for _, b := range buckets {
		if err := s.replace(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// replace writes bucket's aggregate where the stored one is over fewer
// facts. When the write finds the bucket taken (the filter missed, so the
// upsert's insert clashed) it looks: an aggregate over as many facts or
// more is newer and stays; a smaller one was inserted by another consumer
// in between, and the bucket is summed and written again.
func (s *Store) replace(ctx context.Context, bucket string) error {
	for range 10 {
		row, err := s.sum(ctx, bucket)
		if err != nil {
			return err
		}
		_, err = s.hourly.UpdateOne(ctx, bson.D{{Key: "_id", Value: bucket}, {Key: "facts", Value: bson.D{{Key: "$lt", Value: row.Facts}}}},
			bson.D{{Key: "$set", Value: row}}, options.UpdateOne().SetUpsert(true))
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("store aggregate %s: %w", bucket, err)
		}
		var stored Row
		if err := s.hourly.FindOne(ctx, bson.D{{Key: "_id", Value: bucket}}).Decode(&stored); err != nil {
			return fmt.Errorf("read aggregate %s: %w", bucket, err)
		}
		if stored.Facts >= row.Facts {
			return nil
		}
	}
	return fmt.Errorf("store aggregate %s: still contended after 10 tries", bucket)
}

// sum adds up bucket's facts. It reads them rather than asking for a
// $match then $group: FerretDB v1.24 answered that with zero sums (tried
// here). One bucket's facts are one merchant's hour, read by the index.
func (s *Store) sum(ctx context.Context, bucket string) (Row, error) {
	cur, err := s.facts.Find(ctx, bson.D{{Key: "bucket", Value: bucket}})
	if err != nil {
		return Row{}, fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	defer cur.Close(ctx)
	row := Row{Bucket: bucket}
	for cur.Next(ctx) {
		var f Fact
		if err := cur.Decode(&f); err != nil {
			return Row{}, fmt.Errorf("read bucket %s: %w", bucket, err)
		}
		row.Hour, row.Merchant, row.Currency, row.Decision = f.Hour, f.Merchant, f.Currency, f.Decision
		row.Facts++
		row.Add(f.Counts)
	}
	if err := cur.Err(); err != nil {
		return Row{}, fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	if row.Facts == 0 {
		return Row{}, fmt.Errorf("bucket %s has no facts", bucket)
	}
	return row, nil
}

// Filter selects buckets: [From, To) by hour, and a merchant and currency
// when set.
type Filter struct {
	From, To           time.Time
	Merchant, Currency string
}

func (f Filter) match() bson.D {
	m := bson.D{{Key: "hour", Value: bson.D{{Key: "$gte", Value: f.From}, {Key: "$lt", Value: f.To}}}}
	if f.Merchant != "" {
		m = append(m, bson.E{Key: "merchant", Value: f.Merchant})
	}
	if f.Currency != "" {
		m = append(m, bson.E{Key: "currency", Value: f.Currency})
	}
	return m
}

// Rows are the aggregates f selects, oldest hour first.
func (s *Store) Rows(ctx context.Context, f Filter) ([]Row, error) {
	cur, err := s.hourly.Find(ctx, f.match(), options.Find().SetSort(bson.D{{Key: "hour", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read aggregates: %w", err)
	}
	var rows []Row
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read aggregates: %w", err)
	}
	return rows, nil
}

// Expire removes facts and aggregates of hours before cutoff; it returns
// how many of each.
func (s *Store) Expire(ctx context.Context, cutoff time.Time) (facts, rows int64, err error) {
	old := bson.D{{Key: "hour", Value: bson.D{{Key: "$lt", Value: cutoff}}}}
	// Aggregates first: a fact left behind by a failure here is removed
	// next time, and never leaves an aggregate without its facts.
	r, err := s.hourly.DeleteMany(ctx, old)
	if err != nil {
		return 0, 0, fmt.Errorf("expire aggregates: %w", err)
	}
	f, err := s.facts.DeleteMany(ctx, old)
	if err != nil {
		return 0, r.DeletedCount, fmt.Errorf("expire facts: %w", err)
	}
	return f.DeletedCount, r.DeletedCount, nil
}

// Ping checks the store answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.hourly.Database().Client().Ping(ctx, nil)
}
