package clusteraddons

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func validArgs() *Args {
	return &Args{
		ChartRepository: "https://charts.example.com", ImageRegistry: "registry.example.com",
		IngressNamespace: "ingress-nginx", IngressNamespaceReady: pulumi.String("ingress-nginx"),
		Backends:          []Backend{{Namespace: "intelliflow-prod", Port: 8080}},
		ResponseHeaders:   []string{"X-Frame-Options", "Content-Security-Policy"},
		ControlPlaneCIDRs: []string{"10.0.0.0/16"}, NodeCIDRs: []string{"10.0.0.0/16"},
		Replicas: 2, TLSIssuer: "internal-ca",
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, validArgs().Validate())
	a := validArgs()
	a.ChartRepository, a.IngressNamespace, a.Replicas, a.TLSIssuer = "ftp://x", "Bad_NS", 1, ""
	a.Backends = append(a.Backends, Backend{Namespace: "apps", Port: 0})
	a.ResponseHeaders = append(a.ResponseHeaders, "X-Bad: header")
	a.NodeCIDRs = nil
	a.AWS = &AWS{ClusterName: "intelliflow-prod"}
	err := a.Validate()
	for _, want := range []string{"ChartRepository", "IngressNamespace", "Backends", `"X-Bad: header" is not a header name`,
		"ControlPlaneCIDRs and NodeCIDRs", "Replicas 1", "TLSIssuer", "AWS: ClusterName"} {
		require.ErrorContains(t, err, want)
	}
}

func TestNew(t *testing.T) {
	run := func(a *Args) *pulumitest.Mocks {
		mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
			_, err := New(ctx, "addons", a)
			return err
		})
		require.NoError(t, err)
		return mocks
	}
	mocks := run(validArgs())
	require.Len(t, mocks.OfType("kubernetes:helm.sh/v4:Chart"), 2, "off AWS: the ingress controller and metrics-server")
	nginx, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "addons-ingress-nginx")
	require.True(t, ok)
	require.Equal(t, "Content-Security-Policy,X-Frame-Options", nginx.Get("values.controller.config.global-allowed-response-headers"))
	require.Equal(t, "registry.example.com", nginx.Get("values.controller.image.registry"))
	np, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "addons-ingress-nginx")
	require.True(t, ok)
	require.Equal(t, "intelliflow-prod", np.Get("spec.egress.0.to.0.namespaceSelector.matchLabels").(map[string]any)["kubernetes.io/metadata.name"])

	a := validArgs()
	a.AWS = &AWS{ClusterName: "intelliflow-prod", Region: "eu-west-1", VpcID: pulumi.String("vpc-1"),
		LoadBalancerRole: pulumi.String("arn:aws:iam::1:role/lb"), AutoscalerRole: pulumi.String("arn:aws:iam::1:role/ca")}
	mocks = run(a)
	require.Len(t, mocks.OfType("kubernetes:helm.sh/v4:Chart"), 4)
	ca, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "addons-cluster-autoscaler")
	require.True(t, ok)
	require.Equal(t, "intelliflow-prod", ca.Get("values.autoDiscovery.clusterName"))
	require.Equal(t, true, ca.Get("values.extraArgs.balance-similar-node-groups"))
	require.Len(t, mocks.OfType("kubernetes:networking.k8s.io/v1:NetworkPolicy"), 4, "one per add-on")
}
