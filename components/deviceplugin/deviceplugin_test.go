package deviceplugin

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func TestValidate(t *testing.T) {
	err := (&Args{}).Validate()
	require.ErrorContains(t, err, "Image is required")
	require.ErrorContains(t, err, "GPU nodes only")
	require.ErrorContains(t, err, "TaintKey")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "nvidia", &Args{Image: "registry.example.com/intelliflow/nvidia-device-plugin:v0.17.1", NodeSelector: map[string]string{"nvidia.com/gpu.present": "true"}, TaintKey: "nvidia.com/gpu"})
		return err
	})
	require.NoError(t, err)
	ds, ok := mocks.Find("kubernetes:apps/v1:DaemonSet", Name)
	require.True(t, ok)
	spec := "spec.template.spec."
	require.Equal(t, Namespace, ds.Get("metadata.namespace"))
	require.Equal(t, map[string]any{"nvidia.com/gpu.present": "true"}, ds.Get(spec+"nodeSelector"), "GPU nodes only")
	require.Equal(t, map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, ds.Get(spec+"tolerations.0"))
	require.Equal(t, "system-node-critical", ds.Get(spec+"priorityClassName"))
	require.Equal(t, false, ds.Get(spec+"automountServiceAccountToken"))
	require.Equal(t, SocketDir, ds.Get(spec+"volumes.0.hostPath.path"))
	sc := spec + "containers.0.securityContext."
	require.Equal(t, false, ds.Get(sc+"privileged"))
	require.Equal(t, false, ds.Get(sc+"allowPrivilegeEscalation"))
	require.Equal(t, true, ds.Get(sc+"readOnlyRootFilesystem"))
	require.Equal(t, []any{"ALL"}, ds.Get(sc+"capabilities.drop"))
	np, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", Name)
	require.True(t, ok)
	require.Equal(t, []any{"Ingress", "Egress"}, np.Get("spec.policyTypes"))
	require.Nil(t, np.Get("spec.ingress"), "no traffic in")
	require.Nil(t, np.Get("spec.egress"), "no traffic out")
}
