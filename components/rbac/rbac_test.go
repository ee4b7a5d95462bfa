package rbac

import (
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func TestRulesAreNarrow(t *testing.T) {
	for name, rs := range map[string][]Rule{"ml": MLRules("fraud"), "deployer": DeployerRules(), "viewer": ViewerRules()} {
		for i, r := range rs {
			for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
				require.NotContains(t, list, "*", "%s rule %d", name, i)
			}
			require.NotContains(t, r.Resources, "secrets", "%s: no role reads Secrets", name)
			require.NotContains(t, r.Resources, "pods/exec", name)
			for _, v := range []string{"bind", "escalate", "impersonate"} {
				require.NotContains(t, r.Verbs, v, name)
			}
		}
	}
	// The ML role patches exactly the serving Deployment.
	var deploy Rule
	for _, r := range MLRules("fraud") {
		if slices.Contains(r.Resources, "deployments") {
			deploy = r
		}
	}
	require.Equal(t, []string{"fraud"}, deploy.ResourceNames)
	require.Equal(t, []string{"get", "patch"}, deploy.Verbs)
	// Viewers and deployers cannot change anything but rollouts and Jobs.
	for _, r := range ViewerRules() {
		require.Equal(t, []string{"get", "list", "watch"}, r.Verbs)
	}
}

func TestValidate(t *testing.T) {
	err := (&Args{Namespace: "Prod", MLServiceAccount: "", ServingDeployment: "fraud"}).Validate()
	require.ErrorContains(t, err, `Namespace "Prod"`)
	require.ErrorContains(t, err, "MLServiceAccount")
	require.ErrorContains(t, err, "NamespaceReady")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "rbac", &Args{Namespace: "intelliflow-prod", NamespaceReady: pulumi.String("intelliflow-prod"), MLServiceAccount: "orchestrator", ServingDeployment: "fraud", TokenReviewer: "fraud"})
		return err
	})
	require.NoError(t, err)
	// Fraud may ask whose a token is, and nothing more.
	tr, ok := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "rbac-token-reviewer")
	require.True(t, ok)
	require.Equal(t, "system:auth-delegator", tr.Get("roleRef.name"))
	require.Equal(t, map[string]any{"kind": "ServiceAccount", "name": "fraud", "namespace": "intelliflow-prod"}, tr.Get("subjects.0"))
	ml, ok := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "rbac-"+MLRole)
	require.True(t, ok)
	require.Equal(t, map[string]any{"kind": "ServiceAccount", "name": "orchestrator", "namespace": "intelliflow-prod"}, ml.Get("subjects.0"))
	dep, _ := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "rbac-"+DeployerRole)
	require.Equal(t, DeployersGroup, dep.Get("subjects.0.name"))
	require.Equal(t, "intelliflow-prod", dep.Get("metadata.namespace"), "the deployer is namespaced")
	view, _ := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "rbac-"+ViewerRole)
	require.Equal(t, ViewersGroup, view.Get("subjects.0.name"))
	require.Empty(t, mocks.OfType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")[0].Get("aggregationRule"))

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
}
