// Package kafka provides the Kafka component: an MSK cluster private to the
// VPC, TLS between clients and brokers and inside the cluster, IAM
// authentication only (no anonymous clients, no passwords to leak),
// encrypted at rest with the platform's key, broker logs in CloudWatch, and
// a configuration that refuses to lose acknowledged messages (replication
// 3, min.insync.replicas 2, no topics created by typos).
package kafka

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/msk"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/irsa"
	"github.com/intelliflow/platform/components/network"
)

// Port is where brokers accept IAM-authenticated TLS clients.
const Port = 9098

// Args configures the cluster.
type Args struct {
	// Name is the MSK cluster name.
	Name             string
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	// Zones is how many private subnets (one per zone) the brokers spread
	// over; Brokers must be a multiple of it.
	Zones        int
	ClientCIDRs  []string
	KMSKeyARN    pulumi.StringInput
	InstanceType string
	// Version pins the Kafka version, e.g. "3.6.0".
	Version   string
	Brokers   int
	VolumeGiB int
	// LogRetentionDays keeps broker logs this long.
	LogRetentionDays int
}

var (
	nameRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,63}$`)
	instanceRE = regexp.MustCompile(`^kafka\.[a-z0-9]+\.[a-z0-9]+$`)
	versionRE  = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(\.x)?$`)
)

// ServerProperties is the broker configuration: three copies of every
// message, two in sync before a write is acknowledged, topics created by the
// platform only.
func ServerProperties(brokers int) string {
	rf := min(3, brokers)
	isr := max(1, rf-1)
	return strings.Join([]string{
		"auto.create.topics.enable=false",
		fmt.Sprintf("default.replication.factor=%d", rf),
		fmt.Sprintf("min.insync.replicas=%d", isr),
		"unclean.leader.election.enable=false",
		"num.partitions=6",
		"log.retention.hours=168",
	}, "\n") + "\n"
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if !nameRE.MatchString(a.Name) {
		bad("Name %q is not an MSK cluster name", a.Name)
	}
	if a.PrivateSubnetIDs == nil || a.KMSKeyARN == nil {
		bad("PrivateSubnetIDs and KMSKeyARN are required")
	}
	if err := (network.ClientAccess{VpcID: a.VpcID, Ports: []int{Port}, CIDRs: a.ClientCIDRs}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if !instanceRE.MatchString(a.InstanceType) {
		bad("InstanceType %q is not like kafka.m7g.large", a.InstanceType)
	}
	if !versionRE.MatchString(a.Version) {
		bad("Version %q: want a pinned Kafka version such as 3.6.0", a.Version)
	}
	if a.Zones < 2 || a.Zones > 3 {
		bad("Zones %d: MSK spreads brokers over 2 or 3 zones", a.Zones)
	} else if a.Brokers < a.Zones || a.Brokers%a.Zones != 0 {
		bad("Brokers %d: MSK wants a multiple of the %d zones", a.Brokers, a.Zones)
	}
	if a.VolumeGiB < 1 || a.VolumeGiB > 16384 {
		bad("VolumeGiB %d, want 1..16384", a.VolumeGiB)
	}
	if !slices.Contains([]int{1, 3, 5, 7, 14, 30, 60, 90, 180, 365}, a.LogRetentionDays) {
		bad("LogRetentionDays %d is not a CloudWatch retention (7, 30, 90, ...)", a.LogRetentionDays)
	}
	return errors.Join(errs...)
}

// Kafka is the created cluster.
type Kafka struct {
	pulumi.ResourceState

	// BootstrapBrokers is the comma-separated host:port list for IAM clients.
	BootstrapBrokers pulumi.StringOutput `pulumi:"bootstrapBrokers"`
}

// Access is what one client may do on the cluster.
type Access struct {
	// Read and Write name topics.
	Read, Write []string
	// Group is the consumer group it reads as; none for a reader that
	// assigns itself the partitions and commits nothing.
	Group string
	// Own are topics it creates but does not write: a reader's input that
	// another party publishes to.
	Own []string
}

// Permissions are the IAM statements a client's IRSA role needs for access
// to the cluster (MSK IAM authentication authorises by these actions).
func Permissions(partition, region, account, cluster string, a Access) []irsa.Statement {
	base := fmt.Sprintf("arn:%s:kafka:%s:%s:", partition, region, account)
	connect := []string{"kafka-cluster:Connect", "kafka-cluster:DescribeCluster"}
	if len(a.Write) > 0 {
		// franz-go's producers are idempotent (no duplicates on retry).
		connect = append(connect, "kafka-cluster:WriteDataIdempotently")
	}
	out := []irsa.Statement{{Actions: connect, Resources: []string{base + "cluster/" + cluster + "/*"}}}
	topics := func(names []string) []string {
		var arns []string
		for _, t := range names {
			arns = append(arns, base+"topic/"+cluster+"/*/"+t)
		}
		return arns
	}
	if len(a.Read) > 0 {
		out = append(out, irsa.Statement{Actions: []string{"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"}, Resources: topics(a.Read)})
	}
	if len(a.Read) > 0 && a.Group != "" {
		out = append(out, irsa.Statement{Actions: []string{"kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"}, Resources: []string{base + "group/" + cluster + "/*/" + a.Group}})
	}
	if len(a.Own) > 0 {
		out = append(out, irsa.Statement{Actions: []string{"kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"}, Resources: topics(a.Own)})
	}
	if len(a.Write) > 0 {
		// A writer owns its topics and creates them at start (MSK creates
		// none by itself).
		out = append(out, irsa.Statement{Actions: []string{"kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}, Resources: topics(a.Write)})
	}
	return out
}

// New creates the cluster.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Kafka, error) {
	if args == nil {
		return nil, fmt.Errorf("kafka %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("kafka %q: %w", name, err)
	}
	k := &Kafka{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Kafka", name, k, opts...); err != nil {
		return nil, fmt.Errorf("kafka %q: %w", name, err)
	}
	parent := pulumi.Parent(k)
	wrap := func(child string, err error) error { return fmt.Errorf("kafka %q: %s: %w", name, child, err) }
	tags := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	sg, err := network.NewClientAccess(ctx, name+"-brokers", network.ClientAccess{
		VpcID: args.VpcID, Description: "Kafka (TLS, IAM auth) from inside the VPC only", Ports: []int{Port}, CIDRs: args.ClientCIDRs,
	}, parent)
	if err != nil {
		return nil, wrap("security group", err)
	}
	conf, err := msk.NewConfiguration(ctx, name, &msk.ConfigurationArgs{
		Name: pulumi.String(args.Name), KafkaVersions: pulumi.ToStringArray([]string{args.Version}),
		ServerProperties: pulumi.String(ServerProperties(args.Brokers)),
	}, parent)
	if err != nil {
		return nil, wrap("configuration", err)
	}
	logs, err := cloudwatch.NewLogGroup(ctx, name+"-brokers", &cloudwatch.LogGroupArgs{
		Name: pulumi.Sprintf("/intelliflow/msk/%s", args.Name), RetentionInDays: pulumi.Int(args.LogRetentionDays), KmsKeyId: args.KMSKeyARN, Tags: tags,
	}, parent)
	if err != nil {
		return nil, wrap("log group", err)
	}
	subnets := args.PrivateSubnetIDs.ToStringArrayOutput().ApplyT(func(ids []string) []string {
		return ids[:min(len(ids), args.Zones)]
	}).(pulumi.StringArrayOutput)
	cluster, err := msk.NewCluster(ctx, name, &msk.ClusterArgs{
		ClusterName: pulumi.String(args.Name), KafkaVersion: pulumi.String(args.Version), NumberOfBrokerNodes: pulumi.Int(args.Brokers),
		BrokerNodeGroupInfo: &msk.ClusterBrokerNodeGroupInfoArgs{
			InstanceType: pulumi.String(args.InstanceType), ClientSubnets: subnets, SecurityGroups: pulumi.StringArray{sg.ID()},
			StorageInfo: &msk.ClusterBrokerNodeGroupInfoStorageInfoArgs{EbsStorageInfo: &msk.ClusterBrokerNodeGroupInfoStorageInfoEbsStorageInfoArgs{VolumeSize: pulumi.Int(args.VolumeGiB)}},
		},
		ClientAuthentication: &msk.ClusterClientAuthenticationArgs{
			Sasl: &msk.ClusterClientAuthenticationSaslArgs{Iam: pulumi.Bool(true)}, Unauthenticated: pulumi.Bool(false),
		},
		EncryptionInfo: &msk.ClusterEncryptionInfoArgs{
			EncryptionAtRestKmsKeyArn: args.KMSKeyARN,
			EncryptionInTransit:       &msk.ClusterEncryptionInfoEncryptionInTransitArgs{ClientBroker: pulumi.String("TLS"), InCluster: pulumi.Bool(true)},
		},
		ConfigurationInfo:  &msk.ClusterConfigurationInfoArgs{Arn: conf.Arn, Revision: conf.LatestRevision},
		EnhancedMonitoring: pulumi.String("PER_TOPIC_PER_PARTITION"),
		// Consumer lag and broker metrics for Prometheus (the Kafka lag alert).
		OpenMonitoring: &msk.ClusterOpenMonitoringArgs{Prometheus: &msk.ClusterOpenMonitoringPrometheusArgs{
			JmxExporter:  &msk.ClusterOpenMonitoringPrometheusJmxExporterArgs{EnabledInBroker: pulumi.Bool(true)},
			NodeExporter: &msk.ClusterOpenMonitoringPrometheusNodeExporterArgs{EnabledInBroker: pulumi.Bool(true)},
		}},
		LoggingInfo: &msk.ClusterLoggingInfoArgs{BrokerLogs: &msk.ClusterLoggingInfoBrokerLogsArgs{
			CloudwatchLogs: &msk.ClusterLoggingInfoBrokerLogsCloudwatchLogsArgs{Enabled: pulumi.Bool(true), LogGroup: logs.Name},
		}},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, wrap("cluster", err)
	}
	k.BootstrapBrokers = cluster.BootstrapBrokersSaslIam
	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{"bootstrapBrokers": k.BootstrapBrokers}); err != nil {
		return nil, wrap("outputs", err)
	}
	return k, nil
}
