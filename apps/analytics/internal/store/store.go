// Package store keeps analytics' aggregates in a MongoDB-protocol store
// (DocumentDB in AWS, FerretDB on one machine): per hour, merchant,
// currency and fraud decision, the transactions booked and their amount,
// fraud's alerts and their scores, and the reviews that settled held
// payments.
//
// Every event is counted once, without transactions (DocumentDB's are
// limited, FerretDB v1 has none), by two single-document guards:
//
//   - each event is stored as a fact under its event id, with the record
//     it came in (topic, partition, offset). An event stored from another
//     record is a duplicate (the outbox published it twice) and adds
//     nothing;
//   - each aggregate row keeps the offset of the last record it counted,
//     and an increment applies only to a later offset. A record delivered
//     again (a consumer stopped before committing, or a replay by a new
//     group) finds its offset counted and adds nothing; one whose
//     increment never landed adds it now.
//
// A bucket has one row per partition its events came from, so each row
// has one writer (the partition's consumer, which applies its records in
// order): FerretDB v1 applies an update as read, modify, write, and two
// consumers incrementing one document lose increments (tried here). A
// report adds up the rows.
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
	// The record it came in.
	Topic     string `bson:"topic"`
	Partition int32  `bson:"partition"`
	Offset    int64  `bson:"offset"`
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
// currency, decision); From sets its record.
func NewFact(id string, at time.Time, merchant, currency, decision string, c Counts) Fact {
	hour := at.UTC().Truncate(time.Hour)
	return Fact{ID: id, Hour: hour, Merchant: merchant, Currency: currency, Decision: decision, Counts: c,
		Bucket: fmt.Sprintf("%s|%s|%s|%s", hour.Format(time.RFC3339), merchant, currency, decision)}
}

// From is f as it came in the record at topic, partition and offset.
func (f Fact) From(topic string, partition int32, offset int64) Fact {
	f.Topic, f.Partition, f.Offset = topic, partition, offset
	return f
}

// row is the id of f's row: its bucket's, from its partition.
func (f Fact) row() string {
	return fmt.Sprintf("%s|%s/%d", f.Bucket, f.Topic, f.Partition)
}

// Row is a bucket's aggregate of the events from one partition.
type Row struct {
	ID       string    `bson:"_id"`
	Hour     time.Time `bson:"hour"`
	Merchant string    `bson:"merchant"`
	Currency string    `bson:"currency"`
	Decision string    `bson:"decision"`
	// Facts is how many events the row is over; Offset the last counted.
	Facts  int64 `bson:"facts"`
	Offset int64 `bson:"offset"`
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
		s.facts:  {{{Key: "hour", Value: 1}}},
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
	// New facts, and Duplicates: events stored before (by id), whether
	// from another record or this one again.
	New, Duplicates int
	// Counted facts were added to their aggregates; the rest had been.
	Counted int
}

// Apply stores facts, in their partition's order, and adds each to its
// aggregate unless it was counted before.
func (s *Store) Apply(ctx context.Context, facts []Fact) (Applied, error) {
	var out Applied
	if len(facts) == 0 {
		return out, nil
	}
	writes := make([]mongo.WriteModel, 0, len(facts))
	for _, f := range facts {
		writes = append(writes, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: f.ID}}).
			SetUpdate(bson.D{{Key: "$setOnInsert", Value: f}}).SetUpsert(true))
	}
	res, err := s.facts.BulkWrite(ctx, writes, options.BulkWrite().SetOrdered(false))
	if err != nil {
		return out, fmt.Errorf("store facts: %w", err)
	}
	count := make([]Fact, 0, len(facts))
	for i, f := range facts {
		if _, inserted := res.UpsertedIDs[int64(i)]; inserted {
			out.New++
			count = append(count, f)
			continue
		}
		out.Duplicates++
		var stored Fact
		if err := s.facts.FindOne(ctx, bson.D{{Key: "_id", Value: f.ID}}).Decode(&stored); err != nil {
			return out, fmt.Errorf("read fact %s: %w", f.ID, err)
		}
		// The same record again: its increment may not have landed.
		if stored.Topic == f.Topic && stored.Partition == f.Partition && stored.Offset == f.Offset {
			count = append(count, f)
		}
	}
	for _, f := range count {
		counted, err := s.increment(ctx, f)
		if err != nil {
			return out, err
		}
		if counted {
			out.Counted++
		}
	}
	return out, nil
}

// increment adds f to its row unless the row counted f's offset;
// counted says whether it did.
func (s *Store) increment(ctx context.Context, f Fact) (counted bool, err error) {
	id := f.row()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "offset", Value: bson.D{{Key: "$lt", Value: f.Offset}}}}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "facts", Value: 1}, {Key: "transactions", Value: f.Transactions}, {Key: "amount", Value: f.Amount},
			{Key: "alerts", Value: f.Alerts}, {Key: "alert_score_sum", Value: f.AlertScoreSum},
			{Key: "reviews_approved", Value: f.ReviewsApproved}, {Key: "reviews_declined", Value: f.ReviewsDeclined}}},
		{Key: "$set", Value: bson.D{{Key: "offset", Value: f.Offset}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "hour", Value: f.Hour}, {Key: "merchant", Value: f.Merchant},
			{Key: "currency", Value: f.Currency}, {Key: "decision", Value: f.Decision}}},
	}
	_, err = s.hourly.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	if err == nil {
		return true, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return false, fmt.Errorf("count %s in %s: %w", f.ID, id, err)
	}
	// The filter missed the row, so the upsert's insert clashed with it:
	// the row has counted this offset.
	var stored Row
	if err := s.hourly.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&stored); err != nil {
		return false, fmt.Errorf("read aggregate %s: %w", id, err)
	}
	if stored.Offset < f.Offset {
		return false, fmt.Errorf("count %s in %s: the row is at offset %d and refused %d", f.ID, id, stored.Offset, f.Offset)
	}
	return false, nil
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
