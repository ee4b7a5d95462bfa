package jenkins

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	pipelines "github.com/intelliflow/platform/ci-cd/jenkins"
	"github.com/intelliflow/platform/components/rbac"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	return &Args{Namespace: "intelliflow-ci", NamespaceReady: pulumi.String("intelliflow-ci"), AppNamespace: "intelliflow-prod",
		ChartRepository: "https://charts.intelliflow.internal", ImageRegistry: "registry.intelliflow.internal", StorageGiB: 50,
		AdminPassword: pulumi.String("test-admin")}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	a := args()
	a.StorageGiB, a.AppNamespace = 1, ""
	err := a.Validate()
	require.ErrorContains(t, err, "StorageGiB 1")
	require.ErrorContains(t, err, "AppNamespace")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "jenkins", args())
		return err
	})
	require.NoError(t, err)
	chart, ok := mocks.Find("kubernetes:helm.sh/v4:Chart", "jenkins")
	require.True(t, ok)
	v := func(p string) any { return chart.Get("values." + p) }
	require.Equal(t, pipelines.CasC, v("controller.JCasC.configScripts").(map[string]any)["intelliflow"], "exactly the reviewed configuration")
	require.Equal(t, false, v("controller.JCasC.defaultConfig"))
	require.Equal(t, false, v("controller.installLatestPlugins"), "plugins stay pinned")
	require.Len(t, v("controller.installPlugins"), len(Plugins))
	require.Equal(t, "registry.intelliflow.internal", v("controller.image.registry"))

	bind, ok := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "jenkins-deployer")
	require.True(t, ok)
	require.Equal(t, "intelliflow-prod", bind.Get("metadata.namespace"), "the deployer is namespaced")
	require.Equal(t, rbac.DeployerRole, bind.Get("roleRef.name"), "no cluster-admin, no Secrets")
	builder, _ := mocks.Find("kubernetes:core/v1:ServiceAccount", "jenkins-"+BuilderAccount)
	require.Equal(t, false, builder.Get("automountServiceAccountToken"))

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), "%s %s", a.Type, a.Name)
	}
}
