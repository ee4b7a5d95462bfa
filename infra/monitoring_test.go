package infra

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/logging"
	"github.com/intelliflow/platform/components/monitoring"
	"github.com/intelliflow/platform/internal/pulumitest"
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

// TestStoreExporters: where the alerts read pg_* and redis_*, something
// publishes them: both exporters run in staging and prod with their
// ServiceMonitors, log in to Vault as themselves with the agents'
// audience, may read exactly one path each, and the Redis password file
// names the address the exporter scrapes with the stack's token. Vault
// and cert-manager are scraped too. Dev runs none.
func TestStoreExporters(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			mocks, cfg := runStack(t, stack, false)
			monitors := map[string]pulumitest.Resource{}
			for _, m := range mocks.OfType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor") {
				monitors[m.Get("metadata.name").(string)] = m
			}
			if cfg.Vault == nil {
				require.Empty(t, mocks.OfType("intelliflow:monitoring:Exporter"))
				return
			}
			for exp, prefixes := range monitoring.Exporters {
				if exp == "prometheus" || exp == "kubelet (cAdvisor)" || exp == "kube-state-metrics" {
					continue // the chart's own targets
				}
				require.Contains(t, monitors, exp, "%s publishes %v, which the alerts read", exp, prefixes)
			}
			for _, name := range []string{postgresExporter, redisExporter} {
				d := mustFind(t, mocks, "kubernetes:apps/v1:Deployment", name+"-deployment")
				require.Equal(t, "intelliflow-monitoring", d.Get("metadata.namespace"))
				env, _ := json.Marshal(d.Get("spec.template.spec.containers.0.env"))
				require.NotContains(t, string(env), "secretKeyRef", "no credential in a Kubernetes Secret")
				role := mustFind(t, mocks, "vault:kubernetes/authBackendRole:AuthBackendRole", "vault-config-role-"+name)
				require.Equal(t, []any{"intelliflow-monitoring"}, role.Get("boundServiceAccountNamespaces"))
				require.Equal(t, []any{name}, role.Get("boundServiceAccountNames"))
				require.Equal(t, "vault", role.Get("audience"))
				pol := mustFind(t, mocks, "vault:index/policy:Policy", "vault-config-policy-"+name).Get("policy").(string)
				require.Equal(t, 1, strings.Count(pol, "path "), pol)
			}
			require.Contains(t, mustFind(t, mocks, "vault:index/policy:Policy", "vault-config-policy-"+postgresExporter).Get("policy"), `path "database/creds/monitor"`)
			mustFind(t, mocks, "vault:database/secretBackendRole:SecretBackendRole", "vault-config-db-monitor")

			rd := mustFind(t, mocks, "kubernetes:apps/v1:Deployment", redisExporter+"-deployment")
			var addr string
			for _, e := range rd.Get("spec.template.spec.containers.0.env").([]any) {
				if e.(map[string]any)["name"] == "REDIS_ADDR" {
					addr = e.(map[string]any)["value"].(string)
				}
			}
			require.Equal(t, "rediss://master.redis.abc123.euw1.cache.amazonaws.com:6379", addr)
			kv := mustFind(t, mocks, "vault:kv/secretV2:SecretV2", "vault-config-kv-"+redisExporter)
			require.True(t, kv.Inputs["dataJson"].IsSecret())
			var data map[string]string
			require.NoError(t, json.Unmarshal([]byte(kv.Get("dataJson").(string)), &data))
			var file map[string]string
			require.NoError(t, json.Unmarshal([]byte(data[redisPasswordFile]), &file))
			require.Equal(t, map[string]string{addr: pulumitest.GeneratedPassword("credential-redis-password", 32)}, file, "the generated AUTH token ElastiCache has")

			vm := monitors["vault"]
			require.Equal(t, "https", vm.Get("spec.endpoints.0.scheme"))
			require.Equal(t, []any{"intelliflow-security"}, vm.Get("spec.namespaceSelector.matchNames"))
			require.Equal(t, 9402.0, monitors["cert-manager"].Get("spec.endpoints.0.targetPort"))
		})
	}
}
