// Package documentdb provides the DocumentDB component: the analytics
// store (MongoDB wire protocol), private to the VPC, TLS required, audit and
// profiler logs on, encrypted with the platform's key, backed up with
// point-in-time recovery and protected from deletion. The master password is
// generated and kept by DocumentDB in Secrets Manager, never in state.
package documentdb

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/docdb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/network"
)

// Port is the MongoDB port.
const Port = 27017

// Args configures the cluster.
type Args struct {
	// Name is the cluster identifier.
	Name             string
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	ClientCIDRs      []string
	KMSKeyARN        pulumi.StringInput
	InstanceClass    string
	// Instances is the primary plus replicas; more than one spreads over
	// zones and fails over.
	Instances int
	// EngineVersion pins the engine, e.g. "5.0.0".
	EngineVersion string
	// BackupRetentionDays keeps point-in-time recovery this long (7..35).
	BackupRetentionDays int
	// Production takes a final snapshot on deletion.
	Production bool
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	classRE   = regexp.MustCompile(`^db\.[a-z0-9]+\.[a-z0-9]+$`)
	versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if !nameRE.MatchString(a.Name) {
		bad("Name %q is not a DocumentDB identifier", a.Name)
	}
	if a.PrivateSubnetIDs == nil || a.KMSKeyARN == nil {
		bad("PrivateSubnetIDs and KMSKeyARN are required")
	}
	if err := (network.ClientAccess{VpcID: a.VpcID, Ports: []int{Port}, CIDRs: a.ClientCIDRs}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if !classRE.MatchString(a.InstanceClass) {
		bad("InstanceClass %q is not like db.r6g.large", a.InstanceClass)
	}
	if a.Instances < 1 || a.Instances > 16 {
		bad("Instances %d, want 1..16", a.Instances)
	}
	if !versionRE.MatchString(a.EngineVersion) {
		bad("EngineVersion %q: want a pinned version such as 5.0.0", a.EngineVersion)
	}
	if a.BackupRetentionDays < 7 || a.BackupRetentionDays > 35 {
		bad("BackupRetentionDays %d, want 7..35 (AWS-09 asks for a week)", a.BackupRetentionDays)
	}
	return errors.Join(errs...)
}

// DocumentDB is the created cluster.
type DocumentDB struct {
	pulumi.ResourceState

	// Endpoint is the cluster (writer) endpoint.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// New creates the cluster and its instances.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*DocumentDB, error) {
	if args == nil {
		return nil, fmt.Errorf("documentdb %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("documentdb %q: %w", name, err)
	}
	d := &DocumentDB{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:DocumentDB", name, d, opts...); err != nil {
		return nil, fmt.Errorf("documentdb %q: %w", name, err)
	}
	parent := pulumi.Parent(d)
	wrap := func(child string, err error) error { return fmt.Errorf("documentdb %q: %s: %w", name, child, err) }
	tags := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	sg, err := network.NewClientAccess(ctx, name+"-docdb", network.ClientAccess{
		VpcID: args.VpcID, Description: "DocumentDB (TLS) from inside the VPC only", Ports: []int{Port}, CIDRs: args.ClientCIDRs,
	}, parent)
	if err != nil {
		return nil, wrap("security group", err)
	}
	subnets, err := docdb.NewSubnetGroup(ctx, name, &docdb.SubnetGroupArgs{SubnetIds: args.PrivateSubnetIDs, Tags: tags}, parent)
	if err != nil {
		return nil, wrap("subnet group", err)
	}
	params, err := docdb.NewClusterParameterGroup(ctx, name, &docdb.ClusterParameterGroupArgs{
		Family: pulumi.String("docdb" + majorMinor(args.EngineVersion)),
		Parameters: docdb.ClusterParameterGroupParameterArray{
			&docdb.ClusterParameterGroupParameterArgs{Name: pulumi.String("tls"), Value: pulumi.String("enabled")},
			&docdb.ClusterParameterGroupParameterArgs{Name: pulumi.String("audit_logs"), Value: pulumi.String("enabled")},
			&docdb.ClusterParameterGroupParameterArgs{Name: pulumi.String("profiler"), Value: pulumi.String("enabled")},
		},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, wrap("parameter group", err)
	}
	cl := &docdb.ClusterArgs{
		ClusterIdentifier: pulumi.String(args.Name), Engine: pulumi.String("docdb"), EngineVersion: pulumi.String(args.EngineVersion),
		MasterUsername: pulumi.String("intelliflow_admin"), ManageMasterUserPassword: pulumi.Bool(true),
		StorageEncrypted: pulumi.Bool(true), KmsKeyId: args.KMSKeyARN,
		DbSubnetGroupName: subnets.Name, VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		DbClusterParameterGroupName: params.Name,
		BackupRetentionPeriod:       pulumi.Int(args.BackupRetentionDays), PreferredBackupWindow: pulumi.String("02:00-03:00"),
		DeletionProtection:           pulumi.Bool(true),
		SkipFinalSnapshot:            pulumi.Bool(!args.Production),
		EnabledCloudwatchLogsExports: pulumi.ToStringArray([]string{"audit", "profiler"}),
		Tags:                         tags,
	}
	if args.Production {
		cl.FinalSnapshotIdentifier = pulumi.String(args.Name + "-final")
	}
	cluster, err := docdb.NewCluster(ctx, name, cl, parent)
	if err != nil {
		return nil, wrap("cluster", err)
	}
	for i := range args.Instances {
		if _, err := docdb.NewClusterInstance(ctx, fmt.Sprintf("%s-%d", name, i), &docdb.ClusterInstanceArgs{
			ClusterIdentifier: cluster.ID(), InstanceClass: pulumi.String(args.InstanceClass),
			AutoMinorVersionUpgrade: pulumi.Bool(true), Tags: tags,
		}, parent); err != nil {
			return nil, wrap("instance", err)
		}
	}
	d.Endpoint = cluster.Endpoint
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"endpoint": d.Endpoint}); err != nil {
		return nil, wrap("outputs", err)
	}
	return d, nil
}

// majorMinor turns 5.0.0 into 5.0, the parameter-group family's suffix.
func majorMinor(v string) string {
	n := 0
	for i, r := range v {
		if r == '.' {
			n++
			if n == 2 {
				return v[:i]
			}
		}
	}
	return v
}
