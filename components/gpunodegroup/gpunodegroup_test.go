package gpunodegroup

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func gpuArgs() *Args {
	return &Args{
		ClusterName: pulumi.String("intelliflow-prod"), NodeRoleARN: pulumi.String("arn:aws:iam::123456789012:role/nodes"),
		PrivateSubnetIDs: pulumi.ToStringArray([]string{"subnet-a", "subnet-b", "subnet-c"}),
		Name:             "gpu", InstanceTypes: []string{"g5.2xlarge", "g5.4xlarge"},
		Scaling: Scaling{Min: 4, Desired: 4, Max: 12}, DiskGiB: 200,
		KMSKeyARN: pulumi.String("arn:aws:kms:eu-west-1:123456789012:key/k"),
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"valid", func(*Args) {}, ""},
		{"mixed AMIs", func(a *Args) { a.InstanceTypes = []string{"g5.xlarge", "m6i.large"} }, "one node group, one AMI"},
		{"unsupported GPU", func(a *Args) { a.InstanceTypes = []string{"g4ad.xlarge"} }, "AMD GPUs"},
		{"scaling out of order", func(a *Args) { a.Scaling = Scaling{Min: 5, Desired: 3, Max: 4} }, "0 <= Min <= Desired <= Max"},
		{"tiny disk", func(a *Args) { a.DiskGiB = 8 }, "DiskGiB: 8"},
		{"bad name", func(a *Args) { a.Name = "GPU Nodes" }, "not a short DNS label"},
		{"no subnets", func(a *Args) { a.PrivateSubnetIDs = nil }, "are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := gpuArgs()
			tt.mutate(a)
			err := a.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestNewGPUGroup(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "gpu", gpuArgs())
		return err
	})
	require.NoError(t, err)

	lt, ok := mocks.Find("aws:ec2/launchTemplate:LaunchTemplate", "gpu-lt")
	require.True(t, ok)
	require.Equal(t, "required", lt.Get("metadataOptions.httpTokens"))
	require.Equal(t, 1.0, lt.Get("metadataOptions.httpPutResponseHopLimit"))
	require.Equal(t, "true", lt.Get("blockDeviceMappings.0.ebs.encrypted"))
	require.Equal(t, "arn:aws:kms:eu-west-1:123456789012:key/k", lt.Get("blockDeviceMappings.0.ebs.kmsKeyId"))
	require.Nil(t, lt.Get("keyName"), "no SSH key")

	ng, ok := mocks.Find("aws:eks/nodeGroup:NodeGroup", "gpu")
	require.True(t, ok)
	require.Equal(t, "AL2023_x86_64_NVIDIA", ng.Get("amiType"))
	require.Equal(t, []any{map[string]any{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}}, ng.Get("taints"))
	require.Equal(t, map[string]any{"intelliflow.io/node-group": "gpu", "nvidia.com/gpu.present": "true"}, ng.Get("labels"))
	require.Equal(t, []any{"subnet-a", "subnet-b", "subnet-c"}, ng.Get("subnetIds"))
	require.Nil(t, ng.Get("remoteAccess"))
	require.NotNil(t, ng.Get("launchTemplate"))
	require.Equal(t, 4.0, ng.Get("scalingConfig.minSize"))

	// The policy pack's AWS rules pass on what the component registers.
	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: true})
	for _, a := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, a), a.Name)
	}
}

func TestGeneralGroupHasNoTaint(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		a := gpuArgs()
		a.Name, a.InstanceTypes = "general", []string{"m6i.xlarge"}
		_, err := New(ctx, "general", a)
		return err
	})
	require.NoError(t, err)
	ng, _ := mocks.Find("aws:eks/nodeGroup:NodeGroup", "general")
	require.Equal(t, "AL2023_x86_64_STANDARD", ng.Get("amiType"))
	require.Nil(t, ng.Get("taints"))
	require.Equal(t, map[string]any{"intelliflow.io/node-group": "general"}, ng.Get("labels"))
}
