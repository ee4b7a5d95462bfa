package logging

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/gatekeeper"
	"github.com/intelliflow/platform/components/gatekeeper/gatekeepertest"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	return &Args{
		Namespace: "intelliflow-monitoring", NamespaceReady: pulumi.String("intelliflow-monitoring"), OperatorNamespace: pulumi.String("elastic-system"),
		ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal",
		Nodes: 3, StorageGiB: 500, CurlImage: "registry.intelliflow.internal/intelliflow/curl:8.15.0", TLSIssuer: "intelliflow-internal-ca",
		ShipperNamespace: "log-shipper", ShipperNamespaceReady: pulumi.String("log-shipper"), ControlPlaneCIDRs: []string{"10.30.0.0/16"},
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.Nodes, a.TLSIssuer = 0, ""
	err := a.Validate()
	require.ErrorContains(t, err, "Nodes 0")
	require.ErrorContains(t, err, "TLSIssuer")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "logging", args())
		return err
	})
	require.NoError(t, err)
	es, ok := mocks.Find("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch", "logging-elasticsearch")
	require.True(t, ok)
	require.Equal(t, StackVersion, es.Get("spec.version"))
	require.Equal(t, float64(3), es.Get("spec.nodeSets.0.count"))
	require.Equal(t, false, es.Get("spec.nodeSets.0.config").(map[string]any)["node.store.allow_mmap"], "no privileged sysctl init container")
	require.Equal(t, "logs-es-http-tls", es.Get("spec.http.tls.certificate.secretName"))
	require.Equal(t, "500Gi", es.Get("spec.nodeSets.0.volumeClaimTemplates.0.spec.resources.requests.storage"))
	_, ok = mocks.Find("kubernetes:kibana.k8s.elastic.co/v1:Kibana", "logging-kibana")
	require.True(t, ok)

	ls, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "logging-logstash")
	require.True(t, ok)
	require.Equal(t, LogstashConfig(ElasticsearchURL("intelliflow-monitoring")), ls.Get("values.logstashPipeline").(map[string]any)["logstash.conf"])
	require.Len(t, mocks.OfType("kubernetes:cert-manager.io/v1:Certificate"), 3, "Elasticsearch, Logstash, Filebeat")

	job, ok := mocks.Find("kubernetes:batch/v1:Job", "logging-lifecycle")
	require.True(t, ok)
	script := job.Get("spec.template.spec.containers.0.command.2").(string)
	require.Contains(t, script, "put _ilm/policy/"+PolicyName+" policy.json")
	for _, idx := range Indices() {
		require.Contains(t, script, "put _index_template/"+idx+" "+idx+".json")
	}
	cm, _ := mocks.Find("kubernetes:core/v1:ConfigMap", "logging-lifecycle")
	require.Contains(t, cm.Get("data").(map[string]any)["policy.json"], `"max_age":"1d"`)
	require.False(t, strings.Contains(script, "changeme"), "no literal password")

	beat, ok := mocks.Find("kubernetes:beat.k8s.elastic.co/v1beta1:Beat", "logging-filebeat")
	require.True(t, ok)
	require.Equal(t, "log-shipper", beat.Get("metadata.namespace"), "the one namespace that may read node logs")
	require.Equal(t, []any{"logstash-logstash.intelliflow-monitoring.svc:5044"}, beat.Get("spec.config").(map[string]any)["output.logstash"].(map[string]any)["hosts"])
	role, _ := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "logging-filebeat")
	for _, r := range role.Get("rules").([]any) {
		require.NotContains(t, r.(map[string]any)["resources"], "secrets")
	}

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
	obj := map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": job.Get("metadata"), "spec": job.Get("spec")}
	for _, tmpl := range gatekeeper.Templates {
		if tmpl.Matches("Job") {
			msgs, err := gatekeepertest.Evaluate(tmpl, obj, tmpl.Parameters([]string{"registry.intelliflow.internal"}))
			require.NoError(t, err)
			require.Empty(t, msgs, tmpl.Kind)
		}
	}
}
