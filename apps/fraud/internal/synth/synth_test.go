package synth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func small() Config {
	c := DefaultConfig()
	c.Customers, c.Terminals, c.Days = 1000, 2000, 60
	return c
}

func digest(t *testing.T, c Config) (string, []Transaction) {
	t.Helper()
	h := sha256.New()
	var all []Transaction
	require.NoError(t, Generate(c, func(tx Transaction) error {
		fmt.Fprintf(h, "%d|%d|%d|%d|%.2f|%v\n", tx.ID, tx.Time.UnixNano(), tx.CustomerID, tx.TerminalID, tx.Amount, tx.Scenario)
		all = append(all, tx)
		return nil
	}))
	return fmt.Sprintf("%x", h.Sum(nil)), all
}

func TestDeterministic(t *testing.T) {
	a, txs := digest(t, small())
	b, _ := digest(t, small())
	require.Equal(t, a, b, "the same seed gives the same stream")
	other := small()
	other.Seed = 2
	c, _ := digest(t, other)
	require.NotEqual(t, a, c)
	require.NotEmpty(t, txs)
}

func TestStreamShape(t *testing.T) {
	_, txs := digest(t, small())
	counts := map[Scenario]int{}
	fraud := 0
	for i, tx := range txs {
		require.Equal(t, int64(i+1), tx.ID)
		if i > 0 {
			require.False(t, tx.Time.Before(txs[i-1].Time), "time order")
		}
		require.GreaterOrEqual(t, tx.Amount, 0.0)
		require.Equal(t, tx.Fraud, tx.Scenario != None)
		counts[tx.Scenario]++
		if tx.Fraud {
			fraud++
		}
	}
	rate := float64(fraud) / float64(len(txs))
	t.Logf("%d transactions, fraud rate %.3f%%, by scenario %v", len(txs), 100*rate, counts)
	require.Less(t, rate, 0.01, "fraud under 1 %")
	require.Greater(t, rate, 0.001)
	for _, s := range []Scenario{LargeAmount, CompromisedTerminal, CompromisedCard} {
		require.Positive(t, counts[s], s.String())
	}
}

func TestValidate(t *testing.T) {
	c := small()
	c.Customers, c.Days, c.Radius, c.Start, c.CardCompromiseRate = 0, 5000, -1, time.Time{}, 0.5
	err := Generate(c, func(Transaction) error { return nil })
	require.ErrorContains(t, err, "customers: 0")
	require.ErrorContains(t, err, "days: 5000")
	require.ErrorContains(t, err, "radius: -1")
	require.ErrorContains(t, err, "start: required")
	require.ErrorContains(t, err, "card compromise rate: 0.5")
}

func TestEmitErrorStops(t *testing.T) {
	stop := errors.New("disk full")
	n := 0
	err := Generate(small(), func(Transaction) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 10, n)
}

// BenchmarkDefaultWorld generates the default world (5000 customers, 10000
// terminals, 183 days) and reports its size and fraud rate:
//
//	go test ./apps/fraud/internal/synth -run XXX -bench DefaultWorld -benchtime 1x
func BenchmarkDefaultWorld(b *testing.B) {
	for b.Loop() {
		n, fraud := 0, 0
		if err := Generate(DefaultConfig(), func(tx Transaction) error {
			n++
			if tx.Fraud {
				fraud++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "transactions")
		b.ReportMetric(100*float64(fraud)/float64(n), "fraud-%")
	}
}
