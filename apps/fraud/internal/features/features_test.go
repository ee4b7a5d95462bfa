package features

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func tx(offset time.Duration, amount float64, merchant string, x, y float64) Transaction {
	return Transaction{Time: t0.Add(offset), Amount: amount, MerchantID: merchant, X: x, Y: y, HasLocation: true}
}

func TestNamesMatchIndexes(t *testing.T) {
	require.Len(t, Names, Count)
	require.Equal(t, "amount_zscore", Names[AmountZScore])
	require.Equal(t, "sum_7d", Names[Sum7d])
	require.Equal(t, "hour_of_day", Names[HourOfDay])
}

func TestFirstPaymentHasNoHistory(t *testing.T) {
	x, degraded := Vector(tx(0, 42, "m1", 1, 1), History{}, All)
	require.False(t, degraded, "a new card is not a degraded store")
	require.Equal(t, 42.0, x[Amount])
	require.Equal(t, 12.0, x[HourOfDay])
	require.Equal(t, 0.0, x[Count1h])
	require.Equal(t, 1.0, x[NewMerchant])
	require.True(t, math.IsNaN(x[AmountZScore]), "no profile yet")
	require.True(t, math.IsNaN(x[SecondsSinceLast]))
}

func TestVelocityProfileAndPlace(t *testing.T) {
	var h History
	for _, p := range []Transaction{
		tx(-8*24*time.Hour, 1000, "old", 0, 0), // outside every window after the next updates
		tx(-6*24*time.Hour, 10, "m1", 0, 0),
		tx(-20*time.Hour, 20, "m2", 0, 0),
		tx(-30*time.Minute, 30, "m1", 3, 4),
	} {
		h.Update(p)
	}
	require.Len(t, h.Recent, 3, "payments older than 7 days are dropped")

	x, degraded := Vector(tx(0, 100, "m3", 6, 8), h, All)
	require.False(t, degraded)
	require.Equal(t, []float64{1, 30, 2, 50, 3, 60}, x[Count1h:Sum7d+1])
	require.Equal(t, 1800.0, x[SecondsSinceLast])
	require.Equal(t, 5.0, x[DistanceFromLast])
	require.Equal(t, 1.0, x[NewMerchant])
	mean := (1000.0 + 10 + 20 + 30) / 4
	require.InDelta(t, mean, h.Mean, 1e-9)
	require.Greater(t, x[AmountZScore], -1.0)

	x, _ = Vector(tx(0, 5, "m1", 3, 4), h, All)
	require.Equal(t, 0.0, x[NewMerchant])
	require.Equal(t, 0.0, x[DistanceFromLast])
}

func TestUnknownPartsAreMissingNotZero(t *testing.T) {
	var h History
	h.Update(tx(-time.Hour, 10, "m1", 0, 0))
	h.Update(tx(-time.Minute, 12, "m1", 0, 0))
	x, degraded := Vector(tx(0, 50, "m1", 1, 1), h, Known{Merchants: true})
	require.True(t, degraded)
	for _, i := range []int{Count1h, Sum1h, Count24h, Sum24h, Count7d, Sum7d, AmountZScore, SecondsSinceLast, DistanceFromLast} {
		require.True(t, math.IsNaN(x[i]), Names[i])
	}
	require.Equal(t, 50.0, x[Amount])
	require.Equal(t, 0.0, x[NewMerchant])
}
