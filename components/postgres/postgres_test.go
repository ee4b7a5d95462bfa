package postgres

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
	"github.com/intelliflow/platform/policy/rules"
)

func args(prod bool) *Args {
	return &Args{
		Name: "intelliflow-prod", VpcID: pulumi.String("vpc-1"), PrivateSubnetIDs: pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
		ClientCIDRs: []string{"10.20.0.0/16"}, KMSKeyARN: pulumi.String("arn:aws:kms:eu-west-1:123456789012:key/k"),
		InstanceClass: "db.r6g.large", StorageGiB: 100, MaxStorageGiB: 1000, MajorVersion: "16", Production: prod,
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"public clients", func(a *Args) { a.ClientCIDRs = []string{"0.0.0.0/0"} }, "is not a private CIDR"},
		{"bad class", func(a *Args) { a.InstanceClass = "r6g.large" }, "InstanceClass"},
		{"storage", func(a *Args) { a.MaxStorageGiB = 50 }, "20 <= storage <= max"},
		{"version", func(a *Args) { a.MajorVersion = "9.6" }, "MajorVersion"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := args(true)
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
}

func TestDurability(t *testing.T) {
	require.Equal(t, Durability{MultiAZ: true, BackupRetentionDays: 14, FinalSnapshot: true}, DurabilityFor(true))
	require.Equal(t, Durability{MultiAZ: false, BackupRetentionDays: 7}, DurabilityFor(false))
}

func TestProdAndStaging(t *testing.T) {
	for _, prod := range []bool{true, false} {
		mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
			_, err := New(ctx, "db", args(prod))
			return err
		})
		require.NoError(t, err)
		db, ok := mocks.Find("aws:rds/instance:Instance", "db")
		require.True(t, ok)
		require.Equal(t, prod, db.Get("multiAz"), "multi-AZ in prod only")
		require.Equal(t, true, db.Get("storageEncrypted"))
		require.Equal(t, false, db.Get("publiclyAccessible"))
		require.Equal(t, true, db.Get("deletionProtection"))
		require.Equal(t, true, db.Get("manageMasterUserPassword"), "RDS keeps the password; it is never in state")
		require.Nil(t, db.Get("password"))
		require.Equal(t, true, db.Get("iamDatabaseAuthenticationEnabled"))
		require.Equal(t, true, db.Get("performanceInsightsEnabled"))
		require.Equal(t, float64(DurabilityFor(prod).BackupRetentionDays), db.Get("backupRetentionPeriod"))
		pg, _ := mocks.Find("aws:rds/parameterGroup:ParameterGroup", "db")
		require.Equal(t, "rds.force_ssl", pg.Get("parameters.0.name"))

		all := rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}, Production: prod})
		for _, a := range mocks.Analyzed() {
			require.Empty(t, rules.Check(all, a), a.Name)
		}
	}
}
