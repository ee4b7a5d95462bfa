package documentdb

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args(prod bool) *Args {
	return &Args{
		Name: "intelliflow-prod-analytics", VpcID: pulumi.String("vpc-1"), PrivateSubnetIDs: pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		ClientCIDRs: []string{"10.30.0.0/16"}, KMSKeyARN: pulumi.String("arn:aws:kms:eu-west-1:111122223333:key/k"),
		InstanceClass: "db.r6g.large", Instances: 3, EngineVersion: "5.0.0", BackupRetentionDays: 14, Production: prod,
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, args(true).Validate())
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"short backups", func(a *Args) { a.BackupRetentionDays = 1 }, "BackupRetentionDays 1"},
		{"no instances", func(a *Args) { a.Instances = 0 }, "Instances 0"},
		{"version", func(a *Args) { a.EngineVersion = "5" }, "EngineVersion"},
		{"public", func(a *Args) { a.ClientCIDRs = []string{"0.0.0.0/0"} }, "not a private CIDR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := args(true)
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
	require.Equal(t, "5.0", majorMinor("5.0.0"))
	require.Equal(t, "4.0", majorMinor("4.0.12"))
}

func TestNew(t *testing.T) {
	for _, prod := range []bool{true, false} {
		mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
			_, err := New(ctx, "docs", args(prod))
			return err
		})
		require.NoError(t, err)
		c, ok := mocks.Find("aws:docdb/cluster:Cluster", "docs")
		require.True(t, ok)
		require.Equal(t, true, c.Get("storageEncrypted"))
		require.Equal(t, true, c.Get("manageMasterUserPassword"), "the password never reaches state")
		require.Nil(t, c.Get("masterPassword"))
		require.Equal(t, true, c.Get("deletionProtection"))
		require.Equal(t, !prod, c.Get("skipFinalSnapshot"))
		require.Equal(t, float64(14), c.Get("backupRetentionPeriod"))
		require.Len(t, mocks.OfType("aws:docdb/clusterInstance:ClusterInstance"), 3)
		pg, _ := mocks.Find("aws:docdb/clusterParameterGroup:ClusterParameterGroup", "docs")
		require.Equal(t, "docdb5.0", pg.Get("family"))
		require.Equal(t, map[string]any{"name": "tls", "value": "enabled"}, pg.Get("parameters.0"))
		all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: prod})
		for _, a := range mocks.Analyzed() {
			require.Empty(t, rules.Check(all, a), a.Name)
		}
	}
}
