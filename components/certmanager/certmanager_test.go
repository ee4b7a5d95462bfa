package certmanager

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	return &Args{
		Namespace: pulumi.String("cert-manager"), NamespaceName: "cert-manager",
		ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal",
		Replicas: 3, ControlPlaneCIDRs: []string{"10.30.0.0/16"}, MonitoringNamespace: "intelliflow-monitoring",
		ACME: &ACME{
			Email: "oncall@intelliflow.example", Region: "eu-west-1", Zone: "intelliflow.example",
			HostedZoneID: pulumi.String("Z0123456789ABCDEFGHIJ"), RoleARN: pulumi.String("arn:aws:iam::111122223333:role/cert-manager"),
		},
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.ChartRepository, a.Replicas, a.ControlPlaneCIDRs = "http://charts", 0, nil
	a.ACME.Email, a.ACME.Zone, a.ACME.HostedZoneID = "Ops <ops@x.example>", "localhost", nil
	err := a.Validate()
	for _, want := range []string{"ChartRepository", "Replicas 0", "ControlPlaneCIDRs", "ACME.Email", "ACME.Zone", "HostedZoneID"} {
		require.ErrorContains(t, err, want)
	}
}

// TestNew: the chart with our mirror and HA, the internal CA chain, both
// ACME issuers answering DNS-01 in the zone only, and the network policies.
func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		c, err := New(ctx, "cert-manager", args())
		if err == nil && len(c.Issuers) != 3 {
			t.Errorf("issuers %v, want the internal CA and two ACME issuers", c.Issuers)
		}
		return err
	})
	require.NoError(t, err)
	chart, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "cert-manager")
	require.True(t, ok)
	require.Equal(t, ChartVersion, chart.Get("version"))
	v := func(path string) any { return chart.Get("values." + path) }
	require.Equal(t, true, v("crds.enabled"))
	require.Equal(t, true, v("crds.keep"), "uninstalling must not delete every Certificate")
	require.Equal(t, "cert-manager", v("global.leaderElection.namespace"), "not kube-system")
	for _, c := range []string{"image", "webhook.image", "cainjector.image", "acmesolver.image"} {
		require.True(t, strings.HasPrefix(v(c+".repository").(string), "registry.intelliflow.internal/jetstack/"), c)
	}
	require.Equal(t, 3.0, v("replicaCount"))
	require.Equal(t, true, v("webhook.podDisruptionBudget.enabled"))
	require.Equal(t, "arn:aws:iam::111122223333:role/cert-manager", v("serviceAccount.annotations").(map[string]any)["eks.amazonaws.com/role-arn"])

	issuers := map[string]pulumitest.Resource{}
	for _, r := range mocks.OfType("kubernetes:cert-manager.io/v1:ClusterIssuer") {
		issuers[r.Get("metadata.name").(string)] = r
	}
	require.Len(t, issuers, 4)
	require.Equal(t, "intelliflow-internal-root", issuers[InternalCA].Get("spec.ca.secretName"))
	prod := issuers[LetsEncryptProd]
	require.Equal(t, "https://acme-v02.api.letsencrypt.org/directory", prod.Get("spec.acme.server"))
	require.Equal(t, "Z0123456789ABCDEFGHIJ", prod.Get("spec.acme.solvers.0.dns01.route53.hostedZoneID"))
	require.Equal(t, "intelliflow.example", prod.Get("spec.acme.solvers.0.selector.dnsZones.0"))
	require.Nil(t, prod.Get("spec.acme.solvers.0.http01"), "HTTP-01 solver pods would run in the apps' namespace")
	root, ok := mocks.Find("kubernetes:cert-manager.io/v1:Certificate", "cert-manager-root")
	require.True(t, ok)
	require.Equal(t, true, root.Get("spec.isCA"))

	require.Len(t, mocks.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy"), 3)
	mon, ok := mocks.Find("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "cert-manager-monitor")
	require.True(t, ok)
	require.Equal(t, float64(MetricsPort), mon.Get("spec.endpoints.0.targetPort"))

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
}

// TestWithoutACME: a stack without a public zone still gets the internal CA.
func TestWithoutACME(t *testing.T) {
	a := args()
	a.ACME = nil
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "staging"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "cert-manager", a)
		return err
	})
	require.NoError(t, err)
	require.Len(t, mocks.OfType("kubernetes:cert-manager.io/v1:ClusterIssuer"), 2)
}
