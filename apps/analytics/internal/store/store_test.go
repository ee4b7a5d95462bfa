package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/mongotest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	srv := mongotest.Start(t)
	s := New(srv.Connect(t).Database("intelliflow"))
	require.NoError(t, s.EnsureIndexes(context.Background()))
	return s
}

var hour = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// payment is event id's fact, as it came at offset of partition 0.
func payment(id string, offset int64, minute int, merchant string, amount int64, decision string) Fact {
	return NewFact("tx:"+id, hour.Add(time.Duration(minute)*time.Minute), merchant, "EUR", decision, Counts{Transactions: 1, Amount: amount}).
		From("transactions.events", 0, offset)
}

func all(t *testing.T, s *Store) []Row {
	t.Helper()
	rows, err := s.Rows(context.Background(), Filter{From: hour.Add(-24 * time.Hour), To: hour.Add(24 * time.Hour)})
	require.NoError(t, err)
	return rows
}

// TestReplayCountsNothingTwice: the same records applied again, alone or
// with new ones, leave the aggregates as one application made them; an
// event that comes again in another record (the outbox publishing twice)
// is not counted again either.
func TestReplayCountsNothingTwice(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	facts := []Fact{payment("1", 0, 1, "m1", 1000, "approve"), payment("2", 1, 5, "m1", 2500, "approve"),
		payment("3", 2, 7, "m1", 90000, "decline"), payment("4", 3, 70, "m2", 300, "approve"),
		NewFact("alert:a1", hour.Add(7*time.Minute), "m1", "EUR", "decline", Counts{Alerts: 1, AlertScoreSum: 0.93}).From("fraud-alerts", 0, 0)}
	applied, err := s.Apply(ctx, facts)
	require.NoError(t, err)
	require.Equal(t, Applied{New: 5, Counted: 5}, applied)
	first := all(t, s)
	require.Len(t, first, 4, "three buckets, one of them with rows from two partitions")
	require.Equal(t, Row{ID: "2026-12-01T10:00:00Z|m1|EUR|approve|transactions.events/0", Hour: hour, Merchant: "m1", Currency: "EUR", Decision: "approve",
		Facts: 2, Offset: 1, Counts: Counts{Transactions: 2, Amount: 3500}}, first[0])
	require.Equal(t, "2026-12-01T10:00:00Z|m1|EUR|decline|fraud-alerts/0", first[1].ID)
	require.Equal(t, Counts{Alerts: 1, AlertScoreSum: 0.93}, first[1].Counts)
	require.Equal(t, Counts{Transactions: 1, Amount: 90000}, first[2].Counts)

	require.NoError(t, s.EnsureIndexes(ctx), "a restart finds its indexes")
	applied, err = s.Apply(ctx, facts)
	require.NoError(t, err)
	require.Equal(t, Applied{Duplicates: 5}, applied)
	require.Equal(t, first, all(t, s), "a replay changes nothing")

	republished := payment("2", 9, 5, "m1", 2500, "approve")
	applied, err = s.Apply(ctx, []Fact{facts[0], republished, payment("5", 10, 9, "m1", 500, "approve")})
	require.NoError(t, err)
	require.Equal(t, Applied{New: 1, Duplicates: 2, Counted: 1}, applied)
	require.Equal(t, Counts{Transactions: 3, Amount: 4000}, all(t, s)[0].Counts)
}

// TestAStopBetweenTheWritesIsMadeGood: a consumer that stored a record's
// fact but stopped before counting it (the fact is there, the aggregate
// is not) counts it when the record comes again, and only then.
func TestAStopBetweenTheWritesIsMadeGood(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	f := payment("1", 4, 1, "m1", 700, "approve")
	_, err := s.facts.InsertOne(ctx, f) // the first write, and then the stop
	require.NoError(t, err)
	applied, err := s.Apply(ctx, []Fact{f})
	require.NoError(t, err)
	require.Equal(t, Applied{Duplicates: 1, Counted: 1}, applied)
	applied, err = s.Apply(ctx, []Fact{f})
	require.NoError(t, err)
	require.Equal(t, Applied{Duplicates: 1}, applied)
	rows := all(t, s)
	require.Len(t, rows, 1)
	require.Equal(t, Counts{Transactions: 1, Amount: 700}, rows[0].Counts)
}

// TestConcurrentPartitionsLeaveTheFullAggregate: consumers of four
// partitions counting events of one bucket at once (one merchant-hour)
// leave all of them counted, each in its partition's row.
func TestConcurrentPartitionsLeaveTheFullAggregate(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				f := payment(fmt.Sprintf("%d-%d", p, i), int64(i), i, "m1", 100, "approve").From("transactions.events", int32(p), int64(i))
				if _, err := s.Apply(context.Background(), []Fact{f}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rows := all(t, s)
	require.Len(t, rows, 4)
	var sum Counts
	for _, r := range rows {
		require.Equal(t, int64(10), r.Facts, r.ID)
		require.Equal(t, int64(9), r.Offset, r.ID)
		sum.Add(r.Counts)
	}
	require.Equal(t, Counts{Transactions: 40, Amount: 4000}, sum)
}

// TestExpireRemovesOldHoursOnly.
func TestExpireRemovesOldHoursOnly(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.Apply(ctx, []Fact{payment("old", 0, -120, "m1", 1, "approve"), payment("new", 1, 1, "m1", 2, "approve")})
	require.NoError(t, err)
	facts, rows, err := s.Expire(ctx, hour)
	require.NoError(t, err)
	require.Equal(t, [2]int64{1, 1}, [2]int64{facts, rows})
	left := all(t, s)
	require.Len(t, left, 1)
	require.Equal(t, int64(2), left[0].Amount)
}
