package kafka

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/components/irsa"
	"github.com/intelliflow/platform/internal/pulumitest"
)

func args() *Args {
	return &Args{
		Name: "intelliflow-prod", VpcID: pulumi.String("vpc-1"), PrivateSubnetIDs: pulumi.ToStringArray([]string{"subnet-a", "subnet-b", "subnet-c"}),
		Zones: 3, ClientCIDRs: []string{"10.30.0.0/16"}, KMSKeyARN: pulumi.String("arn:aws:kms:eu-west-1:111122223333:key/k"),
		InstanceType: "kafka.m7g.large", Version: "3.6.0", Brokers: 3, VolumeGiB: 500, LogRetentionDays: 30,
	}
}

func TestServerProperties(t *testing.T) {
	require.Contains(t, ServerProperties(3), "default.replication.factor=3\nmin.insync.replicas=2\n")
	require.Contains(t, ServerProperties(6), "default.replication.factor=3\n")
	require.Contains(t, ServerProperties(2), "default.replication.factor=2\nmin.insync.replicas=1\n")
	require.Contains(t, ServerProperties(3), "auto.create.topics.enable=false")
	require.Contains(t, ServerProperties(3), "unclean.leader.election.enable=false")
}

func TestValidate(t *testing.T) {
	require.NoError(t, args().Validate())
	for _, tt := range []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"brokers not a multiple of zones", func(a *Args) { a.Brokers = 4 }, "Brokers 4: MSK wants a multiple of the 3 zones"},
		{"one zone", func(a *Args) { a.Zones = 1 }, "Zones 1"},
		{"instance", func(a *Args) { a.InstanceType = "m7g.large" }, "InstanceType"},
		{"version", func(a *Args) { a.Version = "latest" }, "Version"},
		{"public", func(a *Args) { a.ClientCIDRs = []string{"8.8.8.0/24"} }, "not a private CIDR"},
		{"retention", func(a *Args) { a.LogRetentionDays = 2 }, "LogRetentionDays"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := args()
			tt.mutate(a)
			require.ErrorContains(t, a.Validate(), tt.want)
		})
	}
}

func TestPermissions(t *testing.T) {
	got := Permissions("aws", "eu-west-1", "111122223333", "intelliflow-prod", Access{Read: []string{"transactions"}, Write: []string{"fraud-alerts"}, Group: "fraud"})
	base := "arn:aws:kafka:eu-west-1:111122223333:"
	require.Equal(t, []irsa.Statement{
		{Actions: []string{"kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"}, Resources: []string{base + "cluster/intelliflow-prod/*"}},
		{Actions: []string{"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"}, Resources: []string{base + "topic/intelliflow-prod/*/transactions"}},
		{Actions: []string{"kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"}, Resources: []string{base + "group/intelliflow-prod/*/fraud"}},
		{Actions: []string{"kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}, Resources: []string{base + "topic/intelliflow-prod/*/fraud-alerts"}},
	}, got)
	producer := Permissions("aws", "eu-west-1", "111122223333", "c", Access{Write: []string{"transactions"}})
	require.Len(t, producer, 2, "a producer joins no consumer group")
	consumer := Permissions("aws", "eu-west-1", "111122223333", "c", Access{Read: []string{"transactions"}, Group: "analytics"})
	require.NotContains(t, consumer[0].Actions, "kafka-cluster:WriteDataIdempotently", "a consumer writes nothing")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "kafka", args())
		return err
	})
	require.NoError(t, err)
	c, ok := mocks.Find("aws:msk/cluster:Cluster", "kafka")
	require.True(t, ok)
	require.Equal(t, float64(3), c.Get("numberOfBrokerNodes"))
	require.Equal(t, true, c.Get("clientAuthentication.sasl.iam"))
	require.Equal(t, false, c.Get("clientAuthentication.unauthenticated"))
	require.Equal(t, "TLS", c.Get("encryptionInfo.encryptionInTransit.clientBroker"))
	require.Equal(t, true, c.Get("encryptionInfo.encryptionInTransit.inCluster"))
	require.Equal(t, "arn:aws:kms:eu-west-1:111122223333:key/k", c.Get("encryptionInfo.encryptionAtRestKmsKeyArn"))
	require.Equal(t, true, c.Get("loggingInfo.brokerLogs.cloudwatchLogs.enabled"))
	conf, _ := mocks.Find("aws:msk/configuration:Configuration", "kafka")
	require.Equal(t, ServerProperties(3), conf.Get("serverProperties"))
}
