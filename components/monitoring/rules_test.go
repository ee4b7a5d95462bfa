package monitoring

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/catalog"
)

// exported is every metric our services promise (the catalog's contract,
// which each service's tests check against its registry).
func exported() map[string]string {
	out := map[string]string{}
	for _, s := range catalog.All() {
		for _, m := range append(slices.Clone(catalog.HTTPMetrics), s.Metrics...) {
			out[m] = s.Name
		}
	}
	return out
}

// metricsOf parses an expression and returns the metrics it selects, with
// the _bucket/_count/_sum suffixes of histograms folded to their family.
func metricsOf(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err, expr)
	var out []string
	for _, sel := range parser.ExtractSelectors(e) {
		for _, m := range sel {
			if m.Name == model.MetricNameLabel {
				name := m.Value
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					name = strings.TrimSuffix(name, suffix)
				}
				out = append(out, name)
			}
		}
	}
	return out
}

// TestRulesReadExportedMetrics: every expression parses, and every metric
// it reads is exported by one of our services or a named exporter.
func TestRulesReadExportedMetrics(t *testing.T) {
	ours := exported()
	n := 0
	for _, g := range Groups("intelliflow-prod") {
		for _, r := range g.Rules {
			n++
			metrics := metricsOf(t, r.Expr)
			require.NotEmpty(t, metrics, r.Alert)
			for _, m := range metrics {
				if _, ok := ours[m]; ok {
					continue
				}
				require.True(t, PublishedByExporter(m), "%s reads %s, which neither our services nor a named exporter publish", r.Alert, m)
			}
			if r.Service != "" {
				_, err := catalog.Get(r.Service)
				require.NoError(t, err, r.Alert)
			}
			require.Contains(t, []string{Critical, Warning, Info}, r.Severity, r.Alert)
			_, err := model.ParseDuration(r.For)
			require.NoError(t, err, r.Alert)
			require.NotEmpty(t, r.Summary, r.Alert)
		}
	}
	t.Logf("%d rules in %d groups, every metric accounted for", n, len(Groups("x")))
}

// TestSeedAlerts pins the seed's two alerts.
func TestSeedAlerts(t *testing.T) {
	byName := map[string]Rule{}
	for _, g := range Groups("intelliflow-prod") {
		for _, r := range g.Rules {
			require.NotContains(t, byName, r.Alert, "alert names are unique")
			byName[r.Alert] = r
		}
	}
	lat := byName["HighFraudDetectionLatency"]
	require.Equal(t, []string{"fraud_prediction_duration_seconds"}, metricsOf(t, lat.Expr))
	require.Contains(t, lat.Expr, "histogram_quantile(0.99")
	require.True(t, strings.HasSuffix(lat.Expr, "> 0.1"), "100 ms")
	require.Equal(t, "3m", lat.For)
	require.Equal(t, Critical, lat.Severity)
	acc := byName["ModelAccuracyDrop"]
	require.Contains(t, acc.Expr, "< 0.85 *")
	require.Contains(t, acc.Expr, `model_accuracy_score{source="live",metric="recall"}`, "on live traffic, not the trainer's figure")
	require.Equal(t, []string{"model_accuracy_score", "model_labelled_decisions"}, slices.Compact(metricsOf(t, acc.Expr)))
	require.Equal(t, "10m", acc.For)
	require.Equal(t, Critical, acc.Severity)
	for _, want := range []string{"GatewayAvailabilityBudgetBurn1H", "GatewayLatencyBudgetBurn6H", "TransactionsAvailabilityBudgetBurn1H", "TransactionsLatencyBudgetBurn1H",
		"ServiceErrorRateHigh", "PodRestartingOften", "HPAAtMaximum", "KafkaConsumerLagHigh", "TransactionOutboxBacklog",
		"PostgresConnectionsNearLimit", "RedisCacheHitRatioLow", "CertificateExpiringSoon", "VaultSealed"} {
		require.Contains(t, byName, want)
	}
}
