// Package quality measures the serving fraud model on live traffic: fraud's
// decisions (every scored payment on transactions.events) joined by
// transaction id to what became of them (chargebacks and analysts'
// verdicts on fraud-labels, reviews on transactions.events), over a
// sliding window. A payment is flagged when its score reached the serving
// threshold; against the labels that gives accuracy, precision and
// recall, exported as model_accuracy_score for the ModelAccuracyDrop rule.
// Drift is the population stability index of the window's scores against
// the serving version's reference predictions (the trainer's sample).
package quality

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the window's figures.
type Stats struct {
	// Decisions scored in the window; Labelled of them have a label.
	Decisions, Labelled int
	TP, FP, TN, FN      int
	// Accuracy, Precision and Recall are NaN without the counts they need.
	Accuracy, Precision, Recall float64
	// PSI is the scores' drift from the baseline; NaN without one.
	PSI float64
}

type decision struct {
	score float64
	at    time.Time
}

// Tracker joins decisions and labels. Safe for concurrent use.
type Tracker struct {
	window    time.Duration
	threshold float64
	mu        sync.Mutex
	decisions map[string]decision
	labels    map[string]bool
	labelAt   map[string]time.Time
	baseline  []float64 // bin shares
}

// New tracks decisions within window, flagged from threshold up.
func New(window time.Duration, threshold float64) *Tracker {
	return &Tracker{window: window, threshold: threshold, decisions: map[string]decision{}, labels: map[string]bool{}, labelAt: map[string]time.Time{}}
}

// Decision records fraud's score for a transaction.
func (t *Tracker) Decision(txID string, score float64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.decisions[txID] = decision{score: score, at: at}
}

// Label records what a transaction turned out to be; a later label
// replaces an earlier one (a chargeback after an analyst's approval).
func (t *Tracker) Label(txID string, fraud bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.labelAt[txID]; ok && prev.After(at) {
		return
	}
	t.labels[txID], t.labelAt[txID] = fraud, at
}

// Baseline sets the reference scores drift is measured against.
func (t *Tracker) Baseline(scores []float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.baseline = shares(scores)
}

// bins are the score bins of the drift measure: fraud_score's buckets.
var bins = []float64{.01, .05, .1, .2, .3, .4, .5, .6, .7, .8, .85, .9, .95, .99}

func shares(scores []float64) []float64 {
	if len(scores) == 0 {
		return nil
	}
	out := make([]float64, len(bins)+1)
	for _, s := range scores {
		i := 0
		for i < len(bins) && s > bins[i] {
			i++
		}
		out[i]++
	}
	for i := range out {
		out[i] /= float64(len(scores))
	}
	return out
}

// psi is the population stability index of actual against expected, each
// bin's share floored so an empty bin does not make it infinite.
func psi(expected, actual []float64) float64 {
	const floor = 1e-4
	v := 0.0
	for i := range expected {
		e, a := math.Max(expected[i], floor), math.Max(actual[i], floor)
		v += (a - e) * math.Log(a/e)
	}
	return v
}

// Evaluate drops what left the window at now and computes the figures.
func (t *Tracker) Evaluate(now time.Time) Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := now.Add(-t.window)
	var s Stats
	scores := make([]float64, 0, len(t.decisions))
	for id, d := range t.decisions {
		if d.at.Before(cutoff) {
			delete(t.decisions, id)
			delete(t.labels, id)
			delete(t.labelAt, id)
			continue
		}
		s.Decisions++
		scores = append(scores, d.score)
		fraud, labelled := t.labels[id]
		if !labelled {
			continue
		}
		s.Labelled++
		flagged := d.score >= t.threshold
		switch {
		case flagged && fraud:
			s.TP++
		case flagged:
			s.FP++
		case fraud:
			s.FN++
		default:
			s.TN++
		}
	}
	// Labels of decisions never seen (older than the window, or scored
	// before this process read from) go when they are old too.
	for id, at := range t.labelAt {
		if _, ok := t.decisions[id]; !ok && at.Before(cutoff) {
			delete(t.labels, id)
			delete(t.labelAt, id)
		}
	}
	s.Accuracy = ratio(s.TP+s.TN, s.Labelled)
	s.Precision = ratio(s.TP, s.TP+s.FP)
	s.Recall = ratio(s.TP, s.TP+s.FN)
	s.PSI = math.NaN()
	if t.baseline != nil && len(scores) > 0 {
		s.PSI = psi(t.baseline, shares(scores))
	}
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Metrics export Stats.
type Metrics struct {
	score    *prometheus.GaugeVec
	labelled prometheus.Gauge
	drift    prometheus.Gauge
	model    string
}

// NewMetrics registers model_accuracy_score{source="live"}, the labelled
// decisions behind it and the drift.
func NewMetrics(reg prometheus.Registerer, model string) *Metrics {
	m := &Metrics{model: model,
		score: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "model_accuracy_score",
			Help:        "The serving model on live traffic: accuracy, precision and recall at the serving threshold, over labelled decisions of the window.",
			ConstLabels: prometheus.Labels{"source": "live"}}, []string{"model", "metric"}),
		labelled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "model_labelled_decisions",
			Help: "Decisions of the window with a label: what model_accuracy_score{source=\"live\"} is over.", ConstLabels: prometheus.Labels{"model": model}}),
		drift: prometheus.NewGauge(prometheus.GaugeOpts{Name: "model_score_drift_psi",
			Help: "Population stability index of the window's fraud scores against the serving version's reference predictions.", ConstLabels: prometheus.Labels{"model": model}}),
	}
	reg.MustRegister(m.score, m.labelled, m.drift)
	return m
}

// Set publishes s; a figure without its counts is left out, not zero.
func (m *Metrics) Set(s Stats) {
	m.labelled.Set(float64(s.Labelled))
	for name, v := range map[string]float64{"accuracy": s.Accuracy, "precision": s.Precision, "recall": s.Recall} {
		if math.IsNaN(v) {
			m.score.DeleteLabelValues(m.model, name)
			continue
		}
		m.score.WithLabelValues(m.model, name).Set(v)
	}
	if !math.IsNaN(s.PSI) {
		m.drift.Set(s.PSI)
	}
}
