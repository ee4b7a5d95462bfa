package nodeaudit

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func TestValidate(t *testing.T) {
	err := (&Args{Readers: []string{"jenkins-deployer"}}).Validate()
	require.ErrorContains(t, err, "Namespace and NamespaceReady are required")
	require.ErrorContains(t, err, "Image is required")
	require.ErrorContains(t, err, `Readers: "jenkins-deployer" is not namespace/name`)
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "node-audit", &Args{Namespace: "falco", NamespaceReady: pulumi.String("falco"),
			Image: "registry.example.com/intelliflow/kube-bench:" + Version, Readers: []string{"intelliflow-ci/jenkins-deployer"}, TolerateTaints: []string{"nvidia.com/gpu"}})
		return err
	})
	require.NoError(t, err)
	cj, ok := mocks.Find("kubernetes:batch/v1:CronJob", Name)
	require.True(t, ok)
	require.Equal(t, "falco", cj.Get("metadata.namespace"))
	require.Equal(t, Schedule, cj.Get("spec.schedule"))
	require.Equal(t, "Forbid", cj.Get("spec.concurrencyPolicy"))
	spec := "spec.jobTemplate.spec.template.spec."
	require.Equal(t, true, cj.Get(spec+"hostPID"), "the kubelet's flags")
	require.Equal(t, false, cj.Get(spec+"automountServiceAccountToken"), "no token")
	require.Equal(t, "Never", cj.Get(spec+"restartPolicy"))
	require.Equal(t, []any{"kube-bench", "run", "--targets", "node", "--benchmark", Benchmark, "--json"}, cj.Get(spec+"containers.0.command"))
	for i, p := range HostPaths {
		require.Equal(t, p, cj.Get(spec+"volumes."+string(rune('0'+i))+".hostPath.path"))
		require.Equal(t, true, cj.Get(spec+"containers.0.volumeMounts."+string(rune('0'+i))+".readOnly"), "%s read-only", p)
	}
	sc := spec + "containers.0.securityContext."
	require.Equal(t, false, cj.Get(sc+"privileged"))
	require.Equal(t, false, cj.Get(sc+"allowPrivilegeEscalation"))
	require.Equal(t, true, cj.Get(sc+"readOnlyRootFilesystem"))
	require.Equal(t, []any{"ALL"}, cj.Get(sc+"capabilities.drop"), "root's read bit on its own files, no capability")
	require.Equal(t, "nvidia.com/gpu", cj.Get(spec+"tolerations.0.key"), "GPU nodes are checked too")

	np, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", Name)
	require.True(t, ok)
	require.Equal(t, []any{"Ingress", "Egress"}, np.Get("spec.policyTypes"))
	require.Nil(t, np.Get("spec.egress"), "no traffic out")

	// The pipeline reads, never creates: get and list on jobs, pods, logs.
	role, ok := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:Role", Name+"-reports")
	require.True(t, ok)
	for _, r := range role.Get("rules").([]any) {
		require.Equal(t, []any{"get", "list"}, r.(map[string]any)["verbs"])
	}
	b, ok := mocks.Find("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", Name+"-reports")
	require.True(t, ok)
	require.Equal(t, map[string]any{"kind": "ServiceAccount", "name": "jenkins-deployer", "namespace": "intelliflow-ci"}, b.Get("subjects.0"))
}
