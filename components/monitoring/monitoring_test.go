package monitoring

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	secret := func(s string) pulumi.StringInput { return pulumi.ToSecret(pulumi.String(s)).(pulumi.StringOutput) }
	return &Args{
		Namespace: "intelliflow-monitoring", NamespaceReady: pulumi.String("intelliflow-monitoring"), AppNamespace: "intelliflow-prod",
		ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal",
		RetentionDays: 30, StorageGiB: 200, Replicas: 2, Routing: routing,
		Receivers:            map[string]pulumi.StringInput{SlackWebhookKey: secret("https://slack.example/hook"), PagerDutyRoutingKey: secret("pd-key"), SMTPPasswordKey: secret("smtp")},
		GrafanaAdminPassword: secret("grafana"), ControlPlaneCIDRs: []string{"10.30.0.0/16"},
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.Receivers, a.StorageGiB = nil, 1
	err := a.Validate()
	require.ErrorContains(t, err, "StorageGiB 1")
	require.ErrorContains(t, err, "Receivers: slack-webhook-url is required")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "monitoring", args())
		return err
	})
	require.NoError(t, err)
	chart, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "monitoring")
	require.True(t, ok)
	v := func(p string) any { return chart.Get("values." + p) }
	require.Equal(t, ChartVersion, chart.Get("version"))
	require.Equal(t, "30d", v("prometheus.prometheusSpec.retention"))
	require.Equal(t, "200Gi", v("prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage"))
	require.Equal(t, false, v("prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues"), "scrapes the services' ServiceMonitors")
	require.Equal(t, []any{ReceiversSecret}, v("alertmanager.alertmanagerSpec.secrets"))
	require.Equal(t, "pagerduty", v("alertmanager.config.route.routes.1.receiver"))
	require.Equal(t, false, v("nodeExporter.enabled"))
	require.Equal(t, "registry.intelliflow.internal", v("global.imageRegistry"))

	adapter, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "monitoring-adapter")
	require.True(t, ok)
	require.Equal(t, "http://prometheus-operated.intelliflow-monitoring.svc", adapter.Get("values.prometheus.url"))
	require.Equal(t, "transaction_processing_rate", adapter.Get("values.rules.custom.0.name.as"))
	require.Equal(t, "sqs_queue_depth", adapter.Get("values.rules.external.0.name.as"))

	pr, ok := mocks.Find("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules")
	require.True(t, ok)
	require.Len(t, pr.Get("spec.groups"), 3)
	require.Equal(t, "HighFraudDetectionLatency", pr.Get("spec.groups.0.rules.0.alert"))
	require.Equal(t, "critical", pr.Get("spec.groups.0.rules.0.labels.severity"))

	sec, ok := mocks.Find("kubernetes:core/v1:Secret", "monitoring-"+ReceiversSecret)
	require.True(t, ok)
	require.True(t, sec.Inputs["stringData"].ContainsSecrets(), "receivers' credentials are secrets in state")
	require.Equal(t, "pd-key", sec.Get("stringData").(map[string]any)[PagerDutyRoutingKey])

	for _, d := range Dashboards("intelliflow-prod") {
		cm, ok := mocks.Find("kubernetes:core/v1:ConfigMap", "monitoring-"+d.ConfigMapName())
		require.True(t, ok, d.UID)
		require.Equal(t, "1", cm.Get("metadata.labels").(map[string]any)["grafana_dashboard"])
		body, _ := d.JSON()
		require.JSONEq(t, body, cm.Get("data").(map[string]any)[d.UID+".json"].(string))
	}

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
}
