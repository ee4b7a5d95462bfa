package infra

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/logging"
	"github.com/intelliflow/platform/components/monitoring"
)

// TestObservabilityWiring: in staging and prod every alert rule and every
// dashboard exists for the stack's apps' namespace, the log pipeline is the
// one the package renders, and Jenkins is installed; dev installs none of
// them (no charts).
func TestObservabilityWiring(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			rules, ok := mocks.Find("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules")
			if !cfg.Charts {
				require.False(t, ok)
				require.Empty(t, mocks.OfType("kubernetes:helm.sh/v4:Chart"), "dev installs no chart")
				return
			}
			require.True(t, ok)
			var alerts []string
			for _, g := range rules.Get("spec.groups").([]any) {
				for _, r := range g.(map[string]any)["rules"].([]any) {
					alerts = append(alerts, r.(map[string]any)["alert"].(string))
				}
			}
			var want []string
			for _, g := range monitoring.Groups(cfg.Environment.AppNamespace()) {
				for _, r := range g.Rules {
					want = append(want, r.Alert)
				}
			}
			require.ElementsMatch(t, want, alerts)
			require.Contains(t, rules.Get("spec.groups.2.rules.1.expr"), `namespace="`+cfg.Environment.AppNamespace()+`"`)
			for _, d := range monitoring.Dashboards(cfg.Environment.AppNamespace()) {
				mustFind(t, mocks, "kubernetes:core/v1:ConfigMap", "monitoring-"+d.ConfigMapName())
			}
			ls := mustFind(t, mocks, "kubernetes:helm.sh/v4:Chart", "logging-logstash")
			require.Equal(t, logging.LogstashConfig(logging.ElasticsearchURL("intelliflow-monitoring")), ls.Get("values.logstashPipeline").(map[string]any)["logstash.conf"])
			mustFind(t, mocks, "kubernetes:helm.sh/v4:Chart", "jenkins")
			require.Equal(t, float64(map[string]int{"staging": 1, "prod": 3}[stack]), mustFind(t, mocks, "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch", "logging-elasticsearch").Get("spec.nodeSets.0.count"))
		})
	}
}
