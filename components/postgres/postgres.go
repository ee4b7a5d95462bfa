// Package postgres provides the Postgres component: the platform's RDS
// PostgreSQL, private to the VPC, encrypted with the platform's KMS key,
// TLS-only, with IAM authentication, automated backups and point-in-time
// recovery, deletion protection, and multi-AZ failover in prod. The master
// password is generated and kept by RDS in Secrets Manager, so it never
// appears in state or code.
package postgres

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/network"
)

// Args configures the database.
type Args struct {
	// Name is the RDS identifier.
	Name string
	// VpcID, PrivateSubnetIDs and ClientCIDRs place it and say who may
	// connect (the VPC's private range).
	VpcID            pulumi.StringInput
	PrivateSubnetIDs pulumi.StringArrayInput
	ClientCIDRs      []string
	KMSKeyARN        pulumi.StringInput
	InstanceClass    string
	// StorageGiB grows automatically up to MaxStorageGiB.
	StorageGiB, MaxStorageGiB int
	// MajorVersion pins the PostgreSQL major version, e.g. "16".
	MajorVersion string
	// Production selects prod's durability settings.
	Production bool
}

// Durability is what an environment gets for recovery.
type Durability struct {
	MultiAZ             bool
	BackupRetentionDays int
	FinalSnapshot       bool
}

// DurabilityFor: prod survives a zone (multi-AZ, RTO of a failover, about
// a minute or two) and keeps two weeks of point-in-time recovery (RPO of
// about five minutes); staging keeps a week in one zone. Both keep the
// policy pack's minimum of seven days and deletion protection.
func DurabilityFor(production bool) Durability {
	if production {
		return Durability{MultiAZ: true, BackupRetentionDays: 14, FinalSnapshot: true}
	}
	return Durability{MultiAZ: false, BackupRetentionDays: 7, FinalSnapshot: false}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	classRE   = regexp.MustCompile(`^db\.[a-z0-9]+\.[a-z0-9]+$`)
	versionRE = regexp.MustCompile(`^1[4-9]$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if !nameRE.MatchString(a.Name) {
		bad("Name %q is not an RDS identifier", a.Name)
	}
	if a.VpcID == nil || a.PrivateSubnetIDs == nil || a.KMSKeyARN == nil {
		bad("VpcID, PrivateSubnetIDs and KMSKeyARN are required")
	}
	if err := (network.ClientAccess{VpcID: a.VpcID, Ports: []int{5432}, CIDRs: a.ClientCIDRs}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if !classRE.MatchString(a.InstanceClass) {
		bad("InstanceClass %q is not like db.r6g.large", a.InstanceClass)
	}
	if a.StorageGiB < 20 || a.MaxStorageGiB < a.StorageGiB || a.MaxStorageGiB > 65536 {
		bad("StorageGiB %d / MaxStorageGiB %d: want 20 <= storage <= max <= 65536", a.StorageGiB, a.MaxStorageGiB)
	}
	if !versionRE.MatchString(a.MajorVersion) {
		bad("MajorVersion %q: want a supported major version, 14 to 19", a.MajorVersion)
	}
	return errors.Join(errs...)
}

// Postgres is the created database.
type Postgres struct {
	pulumi.ResourceState

	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	// MasterSecretARN is the Secrets Manager secret RDS keeps the master
	// password in (for Vault's database engine).
	MasterSecretARN pulumi.StringOutput `pulumi:"masterSecretArn"`
}

// New creates the database.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Postgres, error) {
	if args == nil {
		return nil, fmt.Errorf("postgres %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("postgres %q: %w", name, err)
	}
	d := DurabilityFor(args.Production)
	pg := &Postgres{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Postgres", name, pg, opts...); err != nil {
		return nil, fmt.Errorf("postgres %q: %w", name, err)
	}
	parent := pulumi.Parent(pg)
	wrap := func(child string, err error) error { return fmt.Errorf("postgres %q: %s: %w", name, child, err) }
	tags := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	sg, err := network.NewClientAccess(ctx, name+"-db", network.ClientAccess{
		VpcID: args.VpcID, Description: "PostgreSQL from inside the VPC only", Ports: []int{5432}, CIDRs: args.ClientCIDRs,
	}, parent)
	if err != nil {
		return nil, wrap("security group", err)
	}
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{SubnetIds: args.PrivateSubnetIDs, Tags: tags}, parent)
	if err != nil {
		return nil, wrap("subnet group", err)
	}
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family: pulumi.String("postgres" + args.MajorVersion),
		Parameters: rds.ParameterGroupParameterArray{
			&rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1")},
			&rds.ParameterGroupParameterArgs{Name: pulumi.String("log_min_duration_statement"), Value: pulumi.String("500")},
			&rds.ParameterGroupParameterArgs{Name: pulumi.String("log_connections"), Value: pulumi.String("1")},
		},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, wrap("parameter group", err)
	}
	inst := &rds.InstanceArgs{
		Identifier: pulumi.String(args.Name), Engine: pulumi.String("postgres"), EngineVersion: pulumi.String(args.MajorVersion),
		InstanceClass: pulumi.String(args.InstanceClass), AllocatedStorage: pulumi.Int(args.StorageGiB), MaxAllocatedStorage: pulumi.Int(args.MaxStorageGiB),
		StorageType: pulumi.String("gp3"), StorageEncrypted: pulumi.Bool(true), KmsKeyId: args.KMSKeyARN,
		DbName: pulumi.String("intelliflow"), Username: pulumi.String("intelliflow_admin"),
		ManageMasterUserPassword: pulumi.Bool(true), MasterUserSecretKmsKeyId: args.KMSKeyARN,
		IamDatabaseAuthenticationEnabled: pulumi.Bool(true),
		DbSubnetGroupName:                subnets.Name, VpcSecurityGroupIds: pulumi.StringArray{sg.ID()}, PubliclyAccessible: pulumi.Bool(false),
		ParameterGroupName: params.Name, MultiAz: pulumi.Bool(d.MultiAZ),
		BackupRetentionPeriod: pulumi.Int(d.BackupRetentionDays), BackupWindow: pulumi.String("02:00-03:00"),
		DeletionProtection: pulumi.Bool(true), CopyTagsToSnapshot: pulumi.Bool(true),
		SkipFinalSnapshot:          pulumi.Bool(!d.FinalSnapshot),
		PerformanceInsightsEnabled: pulumi.Bool(true), PerformanceInsightsKmsKeyId: args.KMSKeyARN,
		EnabledCloudwatchLogsExports: pulumi.ToStringArray([]string{"postgresql", "upgrade"}),
		AutoMinorVersionUpgrade:      pulumi.Bool(true),
		Tags:                         tags,
	}
	if d.FinalSnapshot {
		inst.FinalSnapshotIdentifier = pulumi.String(args.Name + "-final")
	}
	db, err := rds.NewInstance(ctx, name, inst, parent)
	if err != nil {
		return nil, wrap("instance", err)
	}
	pg.Endpoint = db.Address
	// Not Index(0): the SDK's Index panics on the empty list RDS reports
	// until it has created the secret.
	pg.MasterSecretARN = db.MasterUserSecrets.ApplyT(func(secrets []rds.InstanceMasterUserSecret) string {
		if len(secrets) == 0 || secrets[0].SecretArn == nil {
			return ""
		}
		return *secrets[0].SecretArn
	}).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(pg, pulumi.Map{"endpoint": pg.Endpoint, "masterSecretArn": pg.MasterSecretARN}); err != nil {
		return nil, wrap("outputs", err)
	}
	return pg, nil
}
