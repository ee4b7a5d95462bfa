package redis

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args(prod bool) *Args {
	return &Args{
		Name: "intelliflow-prod", VpcID: pulumi.String("vpc-1"), PrivateSubnetIDs: pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		ClientCIDRs: []string{"10.30.0.0/16"}, KMSKeyARN: pulumi.String("arn:aws:kms:eu-west-1:111122223333:key/k"),
		NodeType: "cache.r7g.large", EngineVersion: "7.1", AuthToken: pulumi.String("a-long-enough-token"), Production: prod,
	}
}

func TestValidAuthToken(t *testing.T) {
	require.NoError(t, ValidAuthToken("0123456789abcdef"))
	require.NoError(t, ValidAuthToken(strings.Repeat("x", 128)))
	for _, bad := range []string{"short", strings.Repeat("x", 129), "0123456789abcdef@", "0123456789 abcdef", `0123456789abcdef"`, "0123456789abcdef/", "0123456789abcdeé"} {
		require.Error(t, ValidAuthToken(bad), bad)
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args(true).Validate())
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"public clients", func(a *Args) { a.ClientCIDRs = []string{"0.0.0.0/0"} }, "is not a private CIDR"},
		{"node type", func(a *Args) { a.NodeType = "r7g.large" }, "NodeType"},
		{"unpinned", func(a *Args) { a.EngineVersion = "7" }, "EngineVersion"},
		{"no token", func(a *Args) { a.AuthToken = nil }, "AuthToken are required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := args(true)
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
}

func TestProdAndStaging(t *testing.T) {
	for _, prod := range []bool{true, false} {
		mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
			_, err := New(ctx, "redis", args(prod))
			return err
		})
		require.NoError(t, err)
		g, ok := mocks.Find("aws:elasticache/replicationGroup:ReplicationGroup", "redis")
		require.True(t, ok)
		av := AvailabilityFor(prod)
		require.Equal(t, float64(av.Nodes), g.Get("numCacheClusters"))
		require.Equal(t, prod, g.Get("automaticFailoverEnabled"), "failover in prod only")
		require.Equal(t, prod, g.Get("multiAzEnabled"))
		require.Equal(t, true, g.Get("transitEncryptionEnabled"))
		require.Equal(t, "required", g.Get("transitEncryptionMode"))
		require.Equal(t, true, g.Get("atRestEncryptionEnabled"))
		require.True(t, g.Inputs["authToken"].IsSecret(), "the token is encrypted in state")
		sg, _ := mocks.Find("aws:ec2/securityGroup:SecurityGroup", "redis-cache")
		require.Equal(t, []any{"10.30.0.0/16"}, sg.Get("ingress.0.cidrBlocks"))
		all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: prod})
		for _, a := range mocks.Analyzed() {
			require.Empty(t, rules.Check(all, a), a.Name)
		}
	}
	require.Equal(t, Availability{Nodes: 3, Failover: true, SnapshotDays: 7}, AvailabilityFor(true))
}
