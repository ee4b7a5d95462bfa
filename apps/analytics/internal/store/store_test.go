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

func payment(id string, minute int, merchant string, amount int64, decision string) Fact {
	return NewFact("tx:"+id, hour.Add(time.Duration(minute)*time.Minute), merchant, "EUR", decision, Counts{Transactions: 1, Amount: amount})
}

func all(t *testing.T, s *Store) []Row {
	t.Helper()
	rows, err := s.Rows(context.Background(), Filter{From: hour.Add(-24 * time.Hour), To: hour.Add(24 * time.Hour)})
	require.NoError(t, err)
	return rows
}

// TestReplayCountsNothingTwice: the same facts applied again, alone or
// mixed with new ones, leave the aggregates as one application made them.
func TestReplayCountsNothingTwice(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	facts := []Fact{payment("1", 1, "m1", 1000, "approve"), payment("2", 5, "m1", 2500, "approve"),
		payment("3", 7, "m1", 90000, "decline"), payment("4", 70, "m2", 300, "approve"),
		NewFact("alert:a1", hour.Add(7*time.Minute), "m1", "EUR", "decline", Counts{Alerts: 1, AlertScoreSum: 0.93})}
	applied, err := s.Apply(ctx, facts)
	require.NoError(t, err)
	require.Equal(t, Applied{New: 5, Buckets: 3}, applied)
	first := all(t, s)
	require.Len(t, first, 3)
	require.Equal(t, Row{Bucket: "2026-12-01T10:00:00Z|m1|EUR|approve", Hour: hour, Merchant: "m1", Currency: "EUR", Decision: "approve",
		Facts: 2, Counts: Counts{Transactions: 2, Amount: 3500}}, first[0])
	require.Equal(t, Counts{Transactions: 1, Amount: 90000, Alerts: 1, AlertScoreSum: 0.93}, first[1].Counts)

	require.NoError(t, s.EnsureIndexes(ctx), "a restart finds its indexes")
	applied, err = s.Apply(ctx, facts)
	require.NoError(t, err)
	require.Equal(t, Applied{Duplicates: 5, Buckets: 3}, applied)
	require.Equal(t, first, all(t, s), "a replay changes nothing")

	applied, err = s.Apply(ctx, append(facts[:2:2], payment("5", 9, "m1", 500, "approve")))
	require.NoError(t, err)
	require.Equal(t, Applied{New: 1, Duplicates: 2, Buckets: 1}, applied)
	require.Equal(t, Counts{Transactions: 3, Amount: 4000}, all(t, s)[0].Counts)
}

// TestConcurrentConsumersLeaveTheFullAggregate: consumers writing facts of
// one bucket at once (two partitions' events in one merchant-hour) end
// with the aggregate over all of them, whichever recomputation lands last.
func TestConcurrentConsumersLeaveTheFullAggregate(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := s.Apply(context.Background(), []Fact{payment(fmt.Sprintf("%d-%d", c, i), i, "m1", 100, "approve")}); err != nil {
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
	require.Len(t, rows, 1)
	require.Equal(t, int64(40), rows[0].Facts)
	require.Equal(t, Counts{Transactions: 40, Amount: 4000}, rows[0].Counts)
}

// TestExpireRemovesOldHoursOnly.
func TestExpireRemovesOldHoursOnly(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.Apply(ctx, []Fact{payment("old", -120, "m1", 1, "approve"), payment("new", 1, "m1", 2, "approve")})
	require.NoError(t, err)
	facts, rows, err := s.Expire(ctx, hour)
	require.NoError(t, err)
	require.Equal(t, [2]int64{1, 1}, [2]int64{facts, rows})
	left := all(t, s)
	require.Len(t, left, 1)
	require.Equal(t, int64(2), left[0].Amount)
}
