package server

import (
	"math"
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
	ModelInfo *prometheus.GaugeVec
	Quality   *prometheus.GaugeVec
	// Scores is the distribution of fraud scores, for the ML dashboard's
	// score distribution and drift panels.
	Scores *prometheus.HistogramVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fraud_prediction_duration_seconds",
			Help:    "Time to score one request, features included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}, []string{"model", "version"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fraud_decisions_total", Help: "Scored transactions by decision."}, []string{"decision"}),
		Degraded:  prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_degraded_predictions_total", Help: "Predictions made with features missing (feature store slow or down)."}),
		Rejected:  prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_rejected_requests_total", Help: "Requests refused as malformed or invalid."}),
		Dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "fraud_feature_updates_dropped_total", Help: "History updates dropped because the queue was full."}),
		ModelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fraud_model_info", Help: "The model being served (value 1)."}, []string{"model", "version", "kind"}),
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
	reg.MustRegister(m.Duration, m.Decisions, m.Degraded, m.Rejected, m.Dropped, m.ModelInfo, m.Quality, m.Scores)
	return m
}

// Observe records one scored request.
func (m *Metrics) Observe(model *registry.Model, score float64, decision string, degraded bool, d time.Duration) {
	m.Duration.WithLabelValues("fraud", model.Version).Observe(d.Seconds())
	m.Scores.WithLabelValues(model.Version).Observe(score)
	m.Decisions.WithLabelValues(decision).Inc()
	if degraded {
		m.Degraded.Inc()
	}
}

// ObserveBatch records one v2 inference call.
func (m *Metrics) ObserveBatch(model *registry.Model, d time.Duration) {
	m.Duration.WithLabelValues("fraud", model.Version).Observe(d.Seconds())
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
