// Package redis provides the Redis component: an ElastiCache for Redis
// replication group private to the VPC, TLS in transit, an AUTH token,
// encrypted at rest with the platform's key, and in prod a primary with two
// replicas across zones with automatic failover.
package redis

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/network"
)

// Port is the port the group listens on (TLS).
const Port = 6379

// Args configures the replication group.
type Args struct {
	// Name is the replication group id.
	Name             string
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	ClientCIDRs      []string
	KMSKeyARN        pulumi.StringInput
	NodeType         string
	// EngineVersion pins the Redis major.minor, e.g. "7.1".
	EngineVersion string
	// AuthToken is the AUTH password, a Pulumi secret.
	AuthToken pulumi.StringInput
	// Production selects prod's availability (see Availability).
	Production bool
}

// Availability is what an environment gets.
type Availability struct {
	// Nodes is the primary plus replicas.
	Nodes int
	// Failover promotes a replica in another zone when the primary fails.
	Failover bool
	// SnapshotDays keeps daily snapshots this long.
	SnapshotDays int
}

// AvailabilityFor: prod runs a primary and two replicas over three zones and
// fails over on its own (RTO of about a minute); staging runs one node. The
// cache holds the fraud server's card history, which is rebuilt from the
// transaction stream, so a day of snapshots in staging is enough.
func AvailabilityFor(production bool) Availability {
	if production {
		return Availability{Nodes: 3, Failover: true, SnapshotDays: 7}
	}
	return Availability{Nodes: 1, Failover: false, SnapshotDays: 1}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
	nodeRE    = regexp.MustCompile(`^cache\.[a-z0-9]+\.[a-z0-9]+$`)
	versionRE = regexp.MustCompile(`^[67]\.[0-9]$`)
)

// ValidAuthToken checks an AUTH token against ElastiCache's rules: 16 to
// 128 printable characters without '@', '"' or '/'.
func ValidAuthToken(token string) error {
	if len(token) < 16 || len(token) > 128 {
		return fmt.Errorf("is %d characters; ElastiCache wants 16 to 128", len(token))
	}
	for _, r := range token {
		if r < 0x21 || r > 0x7e || strings.ContainsRune(`@"/`, r) {
			return errors.New("has a character ElastiCache refuses (space, non-ASCII, '@', '\"' or '/')")
		}
	}
	return nil
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if !nameRE.MatchString(a.Name) {
		bad("Name %q is not a replication group id (40 lower-case letters, digits, '-')", a.Name)
	}
	if a.PrivateSubnetIDs == nil || a.KMSKeyARN == nil || a.AuthToken == nil {
		bad("PrivateSubnetIDs, KMSKeyARN and AuthToken are required")
	}
	if err := (network.ClientAccess{VpcID: a.VpcID, Ports: []int{Port}, CIDRs: a.ClientCIDRs}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if !nodeRE.MatchString(a.NodeType) {
		bad("NodeType %q is not like cache.r7g.large", a.NodeType)
	}
	if !versionRE.MatchString(a.EngineVersion) {
		bad("EngineVersion %q: want a pinned major.minor such as 7.1", a.EngineVersion)
	}
	return errors.Join(errs...)
}

// Redis is the created group.
type Redis struct {
	pulumi.ResourceState

	// Endpoint is the primary's address (writes and reads).
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// New creates the group.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Redis, error) {
	if args == nil {
		return nil, fmt.Errorf("redis %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("redis %q: %w", name, err)
	}
	av := AvailabilityFor(args.Production)
	r := &Redis{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Redis", name, r, opts...); err != nil {
		return nil, fmt.Errorf("redis %q: %w", name, err)
	}
	parent := pulumi.Parent(r)
	wrap := func(child string, err error) error { return fmt.Errorf("redis %q: %s: %w", name, child, err) }
	tags := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	sg, err := network.NewClientAccess(ctx, name+"-cache", network.ClientAccess{
		VpcID: args.VpcID, Description: "Redis (TLS) from inside the VPC only", Ports: []int{Port}, CIDRs: args.ClientCIDRs,
	}, parent)
	if err != nil {
		return nil, wrap("security group", err)
	}
	subnets, err := elasticache.NewSubnetGroup(ctx, name, &elasticache.SubnetGroupArgs{
		Name: pulumi.String(args.Name), SubnetIds: args.PrivateSubnetIDs, Tags: tags,
	}, parent)
	if err != nil {
		return nil, wrap("subnet group", err)
	}
	group, err := elasticache.NewReplicationGroup(ctx, name, &elasticache.ReplicationGroupArgs{
		ReplicationGroupId: pulumi.String(args.Name),
		Description:        pulumi.String("IntelliFlow cache: sessions, rate limits, fraud card history"),
		Engine:             pulumi.String("redis"), EngineVersion: pulumi.String(args.EngineVersion),
		NodeType: pulumi.String(args.NodeType), Port: pulumi.Int(Port),
		NumCacheClusters:         pulumi.Int(av.Nodes),
		AutomaticFailoverEnabled: pulumi.Bool(av.Failover), MultiAzEnabled: pulumi.Bool(av.Failover),
		SubnetGroupName: subnets.Name, SecurityGroupIds: pulumi.StringArray{sg.ID()},
		TransitEncryptionEnabled: pulumi.Bool(true), TransitEncryptionMode: pulumi.String("required"),
		AuthToken:               pulumi.ToSecret(args.AuthToken).(pulumi.StringOutput),
		AuthTokenUpdateStrategy: pulumi.String("ROTATE"),
		AtRestEncryptionEnabled: pulumi.Bool(true), KmsKeyId: args.KMSKeyARN,
		SnapshotRetentionLimit: pulumi.Int(av.SnapshotDays), SnapshotWindow: pulumi.String("03:00-04:00"),
		MaintenanceWindow:       pulumi.String("sun:04:30-sun:05:30"),
		AutoMinorVersionUpgrade: pulumi.Bool(true),
		Tags:                    tags,
	}, parent)
	if err != nil {
		return nil, wrap("replication group", err)
	}
	r.Endpoint = group.PrimaryEndpointAddress
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{"endpoint": r.Endpoint}); err != nil {
		return nil, wrap("outputs", err)
	}
	return r, nil
}
