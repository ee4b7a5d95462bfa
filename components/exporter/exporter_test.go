package exporter

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	creds := "database/creds/monitor"
	return &Args{
		Name: "postgres-exporter", Namespace: pulumi.String("intelliflow-monitoring"), NamespaceName: "intelliflow-monitoring",
		Image: "registry.intelliflow.internal/intelliflow/postgres-exporter:v0.17.1", Port: 9187,
		Env:          map[string]pulumi.StringInput{"DATA_SOURCE_URI": pulumi.String("db.internal:5432/intelliflow?sslmode=verify-full")},
		LivenessPath: "/", ReadinessPath: "/metrics",
		Files:   []microservice.VaultFile{{Name: "pg-password", Path: creds, Template: `{{ with secret "database/creds/monitor" }}{{ .Data.password }}{{ end }}`}},
		Process: "postgres_export", StoreCIDRs: []string{"10.30.0.0/16"}, StorePort: 5432,
		VaultNamespace: "intelliflow-security", VaultPort: 8200, PrometheusNamespace: "intelliflow-monitoring", Replicas: 2,
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.Files, a.Process, a.StoreCIDRs, a.Replicas, a.ReadinessPath = nil, "postgres_exporter", []string{"0.0.0.0/0"}, 0, ""
	err := a.Validate()
	for _, want := range []string{"Files: an exporter", `Process "postgres_exporter"`, `StoreCIDRs[0] "0.0.0.0/0"`, "Replicas 0", "ReadinessPath"} {
		require.ErrorContains(t, err, want)
	}
}

// TestNew: the exporter reads its credentials from Vault only, restarts on
// a new one, reaches only its store and Vault, is scraped, and passes the
// pack like any workload.
func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "postgres-exporter", args())
		return err
	})
	require.NoError(t, err)
	d, ok := mocks.Find("kubernetes:apps/v1:Deployment", "postgres-exporter-deployment")
	require.True(t, ok)
	ann := d.Get("spec.template.metadata.annotations").(map[string]any)
	require.Equal(t, "postgres-exporter", ann["vault.hashicorp.com/role"])
	require.Equal(t, "database/creds/monitor", ann["vault.hashicorp.com/agent-inject-secret-pg-password"])
	require.Equal(t, "pkill -TERM -x postgres_export || true", ann["vault.hashicorp.com/agent-inject-command-pg-password"])
	require.Equal(t, "true", ann["vault.hashicorp.com/agent-run-as-same-user"], "the agent may signal only its own user's process")
	require.Equal(t, true, d.Get("spec.template.spec.shareProcessNamespace"))
	require.Equal(t, false, d.Get("spec.template.spec.automountServiceAccountToken"))
	require.Equal(t, "vault", d.Get("spec.template.spec.volumes.0.projected.sources.0.serviceAccountToken.audience"))
	require.NotEqual(t, d.Get("spec.template.spec.containers.0.livenessProbe"), d.Get("spec.template.spec.containers.0.readinessProbe"))

	np, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "postgres-exporter-netpol")
	require.True(t, ok)
	require.Equal(t, "10.30.0.0/16", np.Get("spec.egress.0.to.0.ipBlock.cidr"))
	require.Equal(t, 5432.0, np.Get("spec.egress.0.ports.0.port"))
	require.Equal(t, 8200.0, np.Get("spec.egress.1.ports.0.port"))
	require.Len(t, np.Get("spec.egress").([]any), 2, "the store and Vault, nothing else")
	_, ok = mocks.Find("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "postgres-exporter-monitor")
	require.True(t, ok)

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}})
	analyzed := mocks.Analyzed()
	for _, a := range analyzed {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
	require.Empty(t, rules.REL02DisruptionBudgets().Check(analyzed))
}
