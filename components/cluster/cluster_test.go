package cluster

import (
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args() *Args {
	return &Args{
		Name: "intelliflow-prod", Version: "1.33", Region: "eu-west-1", Partition: "aws",
		PrivateSubnetIDs: pulumi.ToStringArray([]string{"subnet-a", "subnet-b", "subnet-c"}),
		KMSKeyARN:        pulumi.String("arn:aws:kms:eu-west-1:111122223333:key/k"),
		Access: Access{
			Admins:    []string{"arn:aws:iam::111122223333:role/admin"},
			Deployers: []string{"arn:aws:iam::111122223333:role/ci"},
		},
		NodeGroups: []NodeGroup{
			{Name: "general", InstanceTypes: []string{"m6i.2xlarge"}, Scaling: gpunodegroup.Scaling{Min: 3, Desired: 3, Max: 10}, DiskGiB: 100},
			{Name: "gpu", InstanceTypes: []string{"g5.xlarge"}, Scaling: gpunodegroup.Scaling{Min: 4, Desired: 4, Max: 12}, DiskGiB: 100},
		},
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"unpinned version", func(a *Args) { a.Version = "latest" }, "Version"},
		{"internet API", func(a *Args) { a.PublicAccessCIDRs = []string{"0.0.0.0/0"} }, "opens the API to the internet"},
		{"no admin", func(a *Args) { a.Access.Admins = nil }, "name at least one admin role"},
		{"bad principal", func(a *Args) { a.Access.Viewers = []string{"bob"} }, `"bob" is not an IAM role`},
		{"principal twice", func(a *Args) { a.Access.Viewers = a.Access.Admins }, "listed twice"},
		{"unknown add-on", func(a *Args) { a.AddonVersions = map[string]string{"istio": "v1.0.0-eksbuild.1"} }, `unknown add-on "istio"`},
		{"bad add-on version", func(a *Args) { a.AddonVersions = map[string]string{AddonVPCCNI: "latest"} }, "AddonVersions.vpc-cni"},
		{"no node groups", func(a *Args) { a.NodeGroups = nil }, "NodeGroups"},
		{"bad node group", func(a *Args) { a.NodeGroups[1].InstanceTypes = []string{"inf2.xlarge"} }, "NodeGroups[1]"},
		{"node group twice", func(a *Args) { a.NodeGroups[1].Name = "general" }, `"general" is listed twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := args()
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
}

func TestKubeconfigHoldsNoCredential(t *testing.T) {
	var kc map[string]any
	require.NoError(t, json.Unmarshal([]byte(Kubeconfig("c", "https://x.eks.amazonaws.com", "Q0E=", "eu-west-1")), &kc))
	user := kc["users"].([]any)[0].(map[string]any)["user"].(map[string]any)
	require.NotContains(t, user, "token")
	require.Equal(t, "aws", user["exec"].(map[string]any)["command"])
	require.Equal(t, "c", kc["current-context"])
}

func TestNew(t *testing.T) {
	a := args()
	a.PublicAccessCIDRs = []string{"203.0.113.0/24"}
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod", Mocks: pulumitest.NewAWSMocks(pulumitest.AWS{Region: "eu-west-1"})}, func(ctx *pulumi.Context) error {
		c, err := New(ctx, "eks", a)
		if err == nil {
			require.Len(t, c.NodeGroups, 2)
		}
		return err
	})
	require.NoError(t, err)
	eks, ok := mocks.Find("aws:eks/cluster:Cluster", "eks")
	require.True(t, ok)
	require.Equal(t, true, eks.Get("vpcConfig.endpointPublicAccess"), "public access to exactly the configured networks")
	require.Equal(t, []any{"203.0.113.0/24"}, eks.Get("vpcConfig.publicAccessCidrs"))
	// Roles: the control plane's, the nodes' (no CNI policy: that is the
	// CNI's own IRSA role), one per add-on that calls AWS.
	var attached []string
	for _, r := range mocks.OfType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		attached = append(attached, r.Get("policyArn").(string))
	}
	require.ElementsMatch(t, []string{
		"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
		"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy", "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
	}, attached)
	require.Len(t, mocks.OfType("aws:eks/accessEntry:AccessEntry"), 2)
	require.Len(t, mocks.OfType("aws:eks/nodeGroup:NodeGroup"), 2)

	all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: true})
	for _, r := range mocks.Analyzed() {
		require.Empty(t, rules.Check(all, r), "%s %s", r.Type, r.Name)
	}
}
