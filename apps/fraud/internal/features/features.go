// Package features defines the fraud model's inputs and computes them from a
// card's recent history. Training and serving share this code, so the model
// sees in production exactly what it was trained on; the online store only
// keeps the history.
package features

import (
	"math"
	"time"
)

// Names are the model's features, in vector order. Changing the order or
// the meaning of a feature requires retraining the model.
var Names = []string{
	"amount",
	"amount_zscore",
	"count_1h", "sum_1h",
	"count_24h", "sum_24h",
	"count_7d", "sum_7d",
	"seconds_since_last",
	"new_merchant",
	"distance_from_last",
	"hour_of_day",
}

// Indexes of the features, for reason codes and tests.
const (
	Amount = iota
	AmountZScore
	Count1h
	Sum1h
	Count24h
	Sum24h
	Count7d
	Sum7d
	SecondsSinceLast
	NewMerchant
	DistanceFromLast
	HourOfDay
	Count // number of features
)

// Windows are the velocity windows.
var Windows = [...]time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Transaction is what a feature vector is computed from.
type Transaction struct {
	Time       time.Time
	Amount     float64
	MerchantID string
	// X, Y locate the terminal; HasLocation is false when it is unknown.
	X, Y        float64
	HasLocation bool
}

// Payment is one past payment kept in a card's history.
type Payment struct {
	Time   time.Time
	Amount float64
}

// History is what the online store keeps per card: payments of the last
// seven days, running amount statistics, and where and when it was last used.
type History struct {
	Recent []Payment // oldest first, within the longest window
	// N, Mean and M2 are Welford's running count, mean and sum of squares.
	N         float64
	Mean, M2  float64
	Last      time.Time
	LastX     float64
	LastY     float64
	HasLast   bool
	Merchants map[string]bool
}

// Known says which parts of a card's history could be read. The online
// store fills it; a part that timed out is unknown, and its features are
// NaN (the model's missing value) instead of a made-up zero.
type Known struct {
	Velocity, Profile, Merchants bool
}

// All knows everything.
var All = Known{Velocity: true, Profile: true, Merchants: true}

// Vector computes the features of tx against the card's history. Missing
// parts give NaN; degraded reports whether any feature was missing.
func Vector(tx Transaction, h History, known Known) (x [Count]float64, degraded bool) {
	nan := math.NaN()
	x[Amount] = tx.Amount
	x[HourOfDay] = float64(tx.Time.UTC().Hour())
	for i := range x {
		if i != Amount && i != HourOfDay {
			x[i] = nan
		}
	}
	if known.Velocity {
		for w, window := range Windows {
			count, sum := 0.0, 0.0
			for _, p := range h.Recent {
				if age := tx.Time.Sub(p.Time); age >= 0 && age < window {
					count++
					sum += p.Amount
				}
			}
			x[Count1h+2*w], x[Sum1h+2*w] = count, sum
		}
	}
	if known.Profile {
		if h.N >= 2 {
			std := math.Sqrt(h.M2 / (h.N - 1))
			if std > 0 {
				x[AmountZScore] = (tx.Amount - h.Mean) / std
			} else {
				x[AmountZScore] = 0
			}
		}
		if h.HasLast {
			x[SecondsSinceLast] = math.Max(0, tx.Time.Sub(h.Last).Seconds())
			if tx.HasLocation {
				x[DistanceFromLast] = math.Hypot(tx.X-h.LastX, tx.Y-h.LastY)
			}
		}
	}
	if known.Merchants && tx.MerchantID != "" {
		x[NewMerchant] = 1
		if h.Merchants[tx.MerchantID] {
			x[NewMerchant] = 0
		}
	}
	for _, v := range x {
		if math.IsNaN(v) {
			degraded = true
		}
	}
	// Features with no history yet (a first payment) are NaN too, but the
	// card is new, not the store degraded.
	if known == All {
		degraded = false
	}
	return x, degraded
}

// Update adds tx to the history, dropping payments older than the longest
// window. It is what the store does after scoring, off the request path.
func (h *History) Update(tx Transaction) {
	oldest := tx.Time.Add(-Windows[len(Windows)-1])
	keep := h.Recent[:0]
	for _, p := range h.Recent {
		if !p.Time.Before(oldest) {
			keep = append(keep, p)
		}
	}
	h.Recent = append(keep, Payment{Time: tx.Time, Amount: tx.Amount})
	h.N++
	delta := tx.Amount - h.Mean
	h.Mean += delta / h.N
	h.M2 += delta * (tx.Amount - h.Mean)
	h.Last, h.HasLast = tx.Time, true
	if tx.HasLocation {
		h.LastX, h.LastY = tx.X, tx.Y
	}
	if tx.MerchantID != "" {
		if h.Merchants == nil {
			h.Merchants = map[string]bool{}
		}
		h.Merchants[tx.MerchantID] = true
	}
}
