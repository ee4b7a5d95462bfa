package gatekeeper

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	return &Args{
		Namespace: pulumi.String("gatekeeper-system"), NamespaceName: "gatekeeper-system",
		ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal",
		AllowedRegistries: []string{"registry.intelliflow.internal"}, ExemptNamespaces: []string{"falco"},
		Replicas: 3, ControlPlaneCIDRs: []string{"10.30.0.0/16"}, EnforcementAction: "deny",
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.ChartRepository, a.ImageRegistry, a.Replicas, a.ControlPlaneCIDRs, a.EnforcementAction = "ftp://x", "docker.example.com", 0, nil, "dryrun"
	err := a.Validate()
	for _, want := range []string{"ChartRepository", "Gatekeeper would refuse itself", "Replicas 0", "ControlPlaneCIDRs", `EnforcementAction "dryrun"`} {
		require.ErrorContains(t, err, want)
	}
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "gatekeeper", args())
		return err
	})
	require.NoError(t, err)

	chart, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "gatekeeper")
	require.True(t, ok)
	require.Equal(t, ChartVersion, chart.Get("version"))
	require.Equal(t, "https://charts.intelliflow.internal", chart.Get("repositoryOpts.repo"))
	require.Equal(t, float64(3), chart.Get("values.replicas"))
	require.Equal(t, "Fail", chart.Get("values.validatingWebhookFailurePolicy"), "fail closed")
	require.Equal(t, "registry.intelliflow.internal/openpolicyagent/gatekeeper", chart.Get("values.image.repository"))
	require.Equal(t, false, chart.Get("values.postInstall.labelNamespace.enabled"))
	require.Equal(t, []any{"kube-system", "gatekeeper-system", "falco"}, chart.Get("values.controllerManager.exemptNamespaces"))

	templates := mocks.OfType("kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate")
	require.Len(t, templates, len(Templates))
	for _, tmpl := range Templates {
		r, ok := mocks.Find("kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate", "gatekeeper-"+tmpl.Name())
		require.True(t, ok, tmpl.Kind)
		require.Equal(t, tmpl.Kind, r.Get("spec.crd.spec.names.kind"))
		src, _ := tmpl.Rego()
		require.Nil(t, r.Get("spec.targets.0.rego"), "the legacy field is read as Rego v0")
		require.Equal(t, "Rego", r.Get("spec.targets.0.code.0.engine"))
		require.Equal(t, "v1", r.Get("spec.targets.0.code.0.source.version"))
		require.Equal(t, src, r.Get("spec.targets.0.code.0.source.rego"))
		require.Len(t, r.Get("spec.targets.0.code.0.source.libs"), 1)
		c, ok := mocks.Find("kubernetes:constraints.gatekeeper.sh/v1beta1:"+tmpl.Kind, "gatekeeper-"+tmpl.Name()+"-constraint")
		require.True(t, ok, tmpl.Kind)
		require.Equal(t, "deny", c.Get("spec.enforcementAction"))
		require.Equal(t, []any{"kube-system", "gatekeeper-system", "falco"}, c.Get("spec.match.excludedNamespaces"))
	}
	regs, _ := mocks.Find("kubernetes:constraints.gatekeeper.sh/v1beta1:IntelliflowAllowedRegistries", "gatekeeper-intelliflowallowedregistries-constraint")
	require.Equal(t, []any{"registry.intelliflow.internal"}, regs.Get("spec.parameters.registries"))

	np, _ := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gatekeeper-webhook")
	require.Equal(t, float64(8443), np.Get("spec.ingress.0.ports.0.port"))
	require.Equal(t, "10.30.0.0/16", np.Get("spec.egress.0.to.0.ipBlock.cidr"))

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
}

func TestMatches(t *testing.T) {
	for _, tmpl := range Templates {
		require.True(t, tmpl.Matches("Deployment"), tmpl.Kind)
		require.Equal(t, !tmpl.LongRunningOnly, tmpl.Matches("CronJob"), tmpl.Kind)
		require.Equal(t, !tmpl.LongRunningOnly, tmpl.Matches("Pod"), tmpl.Kind)
		require.False(t, tmpl.Matches("ConfigMap"), tmpl.Kind)
	}
}
