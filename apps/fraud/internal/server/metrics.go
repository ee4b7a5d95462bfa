package server

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intelliflow/platform/apps/fraud/internal/registry"
)

// Metrics are the server's Prometheus metrics; the seed's alerts read
// fraud_prediction_duration_seconds.
type Metrics struct {
	Duration  *prometheus.HistogramVec
	Decisions *prometheus.CounterVec
	Degraded  prometheus.Counter
	Rejected  prometheus.Counter
	Dropped   prometheus.Counter
	// UpdatesFailed counts history updates Redis did not apply.
	UpdatesFailed prometheus.Counter
	ModelInfo     *prometheus.GaugeVec
	Quality       *prometheus.GaugeVec
	// Scores is the distribution of fraud scores, for the ML dashboard's
	// score distribution and drift panels.
	Scores *prometheus.HistogramVec

	// The series every scored request touches, looked up once (per model
	// version) instead of hashing their labels on each request.
	current   atomic.Pointer[versionSeries]
	decisions map[string]prometheus.Counter
}

// versionSeries are one model version's series.
type versionSeries struct {
	version         string
	duration, score prometheus.Observer
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fraud_prediction_duration_seconds",
			Help:    "Time to score one request, features included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}, []string{"model", "version"}),
		Decisions:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fraud_decisions_total", Help: "Scored transactions by decision."}, []string{"decision"}),
		Degraded:      prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_degraded_predictions_total", Help: "Predictions made with features missing (feature store slow or down)."}),
		Rejected:      prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_rejected_requests_total", Help: "Requests refused as malformed or invalid."}),
		Dropped:       prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_feature_updates_dropped_total", Help: "History updates dropped because the queue was full."}),
		UpdatesFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_feature_updates_failed_total", Help: "History updates Redis did not apply."}),
		ModelInfo:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fraud_model_info", Help: "The model being served (value 1)."}, []string{"model", "version", "kind"}),
		// The seed alerts on model_accuracy_score. Accuracy means little at
		// under 1 % fraud, so the value is the trainer's PR-AUC, and says so.
		Quality: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "model_accuracy_score",
			Help: "Quality of the serving model: precision-recall AUC on the trainer's held-out time split (metrics.json).",
		}, []string{"model", "version", "metric"}),
	}
	m.Scores = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fraud_score",
		Help:    "Fraud scores given, by model version.",
		Buckets: []float64{.01, .05, .1, .2, .3, .4, .5, .6, .7, .8, .85, .9, .95, .99},
	}, []string{"version"})
	reg.MustRegister(m.Duration, m.Decisions, m.Degraded, m.Rejected, m.Dropped, m.UpdatesFailed, m.ModelInfo, m.Quality, m.Scores)
	m.decisions = map[string]prometheus.Counter{}
	for _, d := range []string{DecisionApprove, DecisionReview, DecisionDecline} {
		m.decisions[d] = m.Decisions.WithLabelValues(d)
	}
	return m
}

// series are the model version's series, from the last request's when it
// scored with the same version.
func (m *Metrics) series(version string) *versionSeries {
	if s := m.current.Load(); s != nil && s.version == version {
		return s
	}
	s := &versionSeries{version: version, duration: m.Duration.WithLabelValues("fraud", version), score: m.Scores.WithLabelValues(version)}
	m.current.Store(s)
	return s
}

// Observe records one scored request.
func (m *Metrics) Observe(model *registry.Model, score float64, decision string, degraded bool, d time.Duration) {
	s := m.series(model.Version)
	s.duration.Observe(d.Seconds())
	s.score.Observe(score)
	m.decisions[decision].Inc()
	if degraded {
		m.Degraded.Inc()
	}
}

// ObserveBatch records one v2 inference call.
func (m *Metrics) ObserveBatch(model *registry.Model, d time.Duration) {
	m.series(model.Version).duration.Observe(d.Seconds())
}

// ModelLoaded points fraud_model_info at the serving model.
func (m *Metrics) ModelLoaded(model *registry.Model) {
	m.ModelInfo.Reset()
	m.Quality.Reset()
	if model != nil {
		m.ModelInfo.WithLabelValues("fraud", model.Version, model.Kind).Set(1)
		if !math.IsNaN(model.PRAUC) {
			m.Quality.WithLabelValues("fraud", model.Version, "pr_auc").Set(model.PRAUC)
		}
	}
}
