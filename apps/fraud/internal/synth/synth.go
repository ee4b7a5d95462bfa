// Package synth generates a seeded, reproducible stream of card transactions
// with injected fraud, to train and evaluate the fraud model without real
// card data.
//
// The world: customers and terminals on a 100x100 grid; each customer pays at
// terminals within a radius of home, a Poisson number of times a day, around
// midday, with amounts from a personal profile. Three fraud scenarios are
// injected, each a pattern the features can learn:
//   - large amounts: any payment above LargeAmount is fraud (a sanity signal);
//   - compromised terminals: each day a few terminals are compromised and every
//     payment at them during the next four weeks is fraud (terminal history);
//   - compromised cards: each day a few cards are compromised and, for the
//     next two weeks, a third of their payments are fraud with amounts
//     inflated five-fold (per-card amount z-score).
package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Scenario says why a transaction is fraud.
type Scenario uint8

// The fraud scenarios; None is a genuine payment.
const (
	None Scenario = iota
	LargeAmount
	CompromisedTerminal
	CompromisedCard
)

func (s Scenario) String() string {
	return [...]string{"none", "large-amount", "compromised-terminal", "compromised-card"}[s]
}

// Transaction is one card payment.
type Transaction struct {
	ID         int64
	Time       time.Time
	CustomerID int
	TerminalID int
	Amount     float64
	// TerminalX, TerminalY locate the terminal on the grid (for distance
	// features).
	TerminalX, TerminalY float64
	Fraud                bool
	Scenario             Scenario
}

// Config sizes the world. Zero fields take the defaults.
type Config struct {
	Seed      uint64
	Customers int
	Terminals int
	Days      int
	Start     time.Time
	// Radius is how far from home a customer pays.
	Radius float64
	// LargeAmount is the threshold of the large-amount scenario.
	LargeAmount float64
	// TerminalCompromiseRate and CardCompromiseRate are the expected share of
	// terminals and cards compromised each day, so the fraud rate does not
	// depend on the size of the world.
	TerminalCompromiseRate, CardCompromiseRate float64
}

// DefaultConfig is a world of 5000 customers and 10000 terminals over
// 183 days, which keeps the fraud rate under 1 %.
func DefaultConfig() Config {
	return Config{
		Seed: 1, Customers: 5000, Terminals: 10000, Days: 183,
		Start:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Radius: 5, LargeAmount: 220, TerminalCompromiseRate: 0.0002, CardCompromiseRate: 0.0006,
	}
}

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{{"customers", c.Customers, 10_000_000}, {"terminals", c.Terminals, 10_000_000}, {"days", c.Days, 3650}} {
		if f.v < 1 || f.v > f.max {
			errs = append(errs, fmt.Errorf("%s: %d, want 1..%d", f.name, f.v, f.max))
		}
	}
	if !(c.Radius > 0 && c.Radius <= 100) {
		errs = append(errs, fmt.Errorf("radius: %v, want (0, 100]", c.Radius))
	}
	if !(c.LargeAmount > 0) {
		errs = append(errs, fmt.Errorf("large amount: %v, want > 0", c.LargeAmount))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"terminal compromise rate", c.TerminalCompromiseRate}, {"card compromise rate", c.CardCompromiseRate}} {
		if !(r.v >= 0 && r.v <= 0.01) {
			errs = append(errs, fmt.Errorf("%s: %v, want 0..0.01 a day", r.name, r.v))
		}
	}
	if c.Start.IsZero() {
		errs = append(errs, errors.New("start: required"))
	}
	return errors.Join(errs...)
}

type customer struct {
	x, y              float64
	meanAmount, stdev float64
	perDay            float64
	terminals         []int
}

type point struct{ x, y float64 }

// Generate emits every transaction in time order. The same config always
// yields the same stream. emit's error stops generation and is returned.
func Generate(c Config, emit func(Transaction) error) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x1f2e3d4c5b6a7988))
	terminals := make([]point, c.Terminals)
	for i := range terminals {
		terminals[i] = point{rng.Float64() * 100, rng.Float64() * 100}
	}
	grid := newGrid(terminals)
	customers := make([]customer, c.Customers)
	for i := range customers {
		cu := &customers[i]
		cu.x, cu.y = rng.Float64()*100, rng.Float64()*100
		cu.meanAmount = 5 + rng.Float64()*95
		cu.stdev = cu.meanAmount / 2
		cu.perDay = rng.Float64() * 4
		cu.terminals = grid.within(cu.x, cu.y, c.Radius)
	}

	terminalUntil := map[int]int{} // terminal -> last compromised day
	cardUntil := map[int]int{}     // customer -> last compromised day
	var id int64
	var day []Transaction
	for d := 0; d < c.Days; d++ {
		for i := poisson(rng, c.TerminalCompromiseRate*float64(c.Terminals)); i > 0; i-- {
			terminalUntil[rng.IntN(c.Terminals)] = d + 28
		}
		for i := poisson(rng, c.CardCompromiseRate*float64(c.Customers)); i > 0; i-- {
			cardUntil[rng.IntN(c.Customers)] = d + 14
		}
		dayStart := c.Start.AddDate(0, 0, d)
		day = day[:0]
		for ci := range customers {
			cu := &customers[ci]
			if len(cu.terminals) == 0 {
				continue
			}
			n := poisson(rng, cu.perDay)
			for k := 0; k < n; k++ {
				secs := rng.NormFloat64()*20000 + 43200 // around midday
				if secs < 0 || secs >= 86400 {
					continue
				}
				amount := rng.NormFloat64()*cu.stdev + cu.meanAmount
				if amount < 0 {
					amount = rng.Float64() * cu.meanAmount * 2
				}
				t := cu.terminals[rng.IntN(len(cu.terminals))]
				tx := Transaction{
					Time: dayStart.Add(time.Duration(secs * float64(time.Second))), CustomerID: ci, TerminalID: t,
					Amount: math.Round(amount*100) / 100, TerminalX: terminals[t].x, TerminalY: terminals[t].y,
				}
				switch {
				case tx.Amount > c.LargeAmount:
					tx.Fraud, tx.Scenario = true, LargeAmount
				case terminalUntil[t] >= d && terminalUntil[t] > 0:
					tx.Fraud, tx.Scenario = true, CompromisedTerminal
				case cardUntil[ci] >= d && cardUntil[ci] > 0 && rng.IntN(3) == 0:
					tx.Amount = math.Round(tx.Amount*5*100) / 100
					tx.Fraud, tx.Scenario = true, CompromisedCard
				}
				day = append(day, tx)
			}
		}
		sort.SliceStable(day, func(i, j int) bool { return day[i].Time.Before(day[j].Time) })
		for _, tx := range day {
			id++
			tx.ID = id
			if err := emit(tx); err != nil {
				return err
			}
		}
	}
	return nil
}

// poisson draws from a Poisson distribution with Knuth's method, exact and
// fast for the small means used here (under 10).
func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// grid buckets terminals by cell so "terminals within r of home" does not
// scan all of them for every customer.
type grid struct {
	cells map[[2]int][]int
	pts   []point
}

const cell = 5.0

func newGrid(pts []point) grid {
	g := grid{cells: map[[2]int][]int{}, pts: pts}
	for i, p := range pts {
		k := [2]int{int(p.x / cell), int(p.y / cell)}
		g.cells[k] = append(g.cells[k], i)
	}
	return g
}

func (g grid) within(x, y, r float64) []int {
	var out []int
	reach := int(math.Ceil(r / cell))
	cx, cy := int(x/cell), int(y/cell)
	for i := cx - reach; i <= cx+reach; i++ {
		for j := cy - reach; j <= cy+reach; j++ {
			for _, t := range g.cells[[2]int{i, j}] {
				if math.Hypot(g.pts[t].x-x, g.pts[t].y-y) <= r {
					out = append(out, t)
				}
			}
		}
	}
	sort.Ints(out)
	return out
}
