package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/certmanager"
	"github.com/intelliflow/platform/components/cluster"
	"github.com/intelliflow/platform/components/documentdb"
	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/irsa"
	"github.com/intelliflow/platform/components/kafka"
	"github.com/intelliflow/platform/components/network"
	"github.com/intelliflow/platform/components/platformkey"
	"github.com/intelliflow/platform/components/postgres"
	"github.com/intelliflow/platform/components/redis"
	"github.com/intelliflow/platform/components/storage"
	"github.com/intelliflow/platform/components/vault"
	"github.com/intelliflow/platform/stacks"
)

// Foundation is what the AWS layer hands the Kubernetes layer.
type Foundation struct {
	// Account, Partition and Region are the invokes' answers.
	Account, Partition, Region string
	// KeyARN is the platform's KMS key.
	KeyARN pulumi.StringOutput
	// AWSProvider is the stack's AWS provider, for later invokes.
	AWSProvider *aws.Provider
	Cluster     *cluster.Cluster
	// Kubeconfig reaches the cluster (no credential inside).
	Kubeconfig pulumi.StringOutput
	// Ready is what Kubernetes objects wait for.
	Ready []pulumi.Resource
	// Config are the managed stores' coordinates as service config
	// (DATABASE_HOST, REDIS_ADDR, ...), computed by AWS.
	Config map[catalog.Store]map[string]pulumi.StringInput
	// Roles are the services' IRSA role ARNs, by service.
	Roles map[string]pulumi.StringOutput
	// Vault's IRSA roles (the KMS seal, the snapshot upload) and its
	// unseal key alias; nil without Vault.
	VaultRole, VaultSnapshotRole pulumi.StringOutput
	VaultUnsealAlias             string
	// HostedZoneID is the public Route 53 zone aws.dnsZone; CertManagerRole
	// may write only ACME challenge records there. Empty without charts.
	HostedZoneID    string
	CertManagerRole pulumi.StringOutput
	// VpcID is the cluster's VPC; LoadBalancerRole and AutoscalerRole
	// the AWS controllers' IRSA roles (empty without charts).
	VpcID                            pulumi.StringOutput
	LoadBalancerRole, AutoscalerRole pulumi.StringOutput
	// Database is the RDS endpoint and the ARN of the secret RDS keeps its
	// master credentials in (Vault's database engine logs in with them).
	DatabaseHost, DatabaseSecretARN pulumi.StringOutput
}

// awsProvider is the one AWS provider of the stack: default tags on every
// resource, and nothing falls back to an ambient region.
func awsProvider(ctx *pulumi.Context, cfg stacks.Config) (*aws.Provider, error) {
	p, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region: pulumi.String(cfg.AWS.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: pulumi.StringMap{
			"intelliflow.io/stack":       pulumi.String(cfg.Stack),
			"intelliflow.io/environment": pulumi.String(string(cfg.Environment)),
			"app.kubernetes.io/part-of":  pulumi.String("intelliflow"),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("aws provider: %w", err)
	}
	return p, nil
}

// whereAmI asks the provider for the account, partition and the zones to
// use: zones come from the region's list, never from a hard-coded one.
func whereAmI(ctx *pulumi.Context, cfg stacks.Config, p *aws.Provider) (account, partition string, zones []string, err error) {
	on := pulumi.Provider(p)
	id, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{}, on)
	if err != nil {
		return "", "", nil, fmt.Errorf("aws caller identity: %w", err)
	}
	part, err := aws.GetPartition(ctx, &aws.GetPartitionArgs{}, on)
	if err != nil {
		return "", "", nil, fmt.Errorf("aws partition: %w", err)
	}
	region, err := aws.GetRegion(ctx, &aws.GetRegionArgs{}, on)
	if err != nil {
		return "", "", nil, fmt.Errorf("aws region: %w", err)
	}
	if region.Name != cfg.AWS.Region {
		return "", "", nil, fmt.Errorf("config %s:aws.region is %s but the AWS provider is in %s", stacks.Namespace, cfg.AWS.Region, region.Name)
	}
	state := "available"
	az, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State:   &state,
		Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
	}, on)
	if err != nil {
		return "", "", nil, fmt.Errorf("aws availability zones: %w", err)
	}
	if len(az.Names) < cfg.AWS.Zones {
		return "", "", nil, fmt.Errorf("config %s:aws.zones is %d but %s has %d available zones (%s)",
			stacks.Namespace, cfg.AWS.Zones, cfg.AWS.Region, len(az.Names), strings.Join(az.Names, ", "))
	}
	return id.AccountId, part.Partition, az.Names[:cfg.AWS.Zones], nil
}

// deployFoundation builds the AWS layer of a staging or prod stack.
func deployFoundation(ctx *pulumi.Context, cfg stacks.Config, creds credentials) (*Foundation, error) {
	a := cfg.AWS
	p, err := awsProvider(ctx, cfg)
	if err != nil {
		return nil, err
	}
	account, partition, zones, err := whereAmI(ctx, cfg, p)
	if err != nil {
		return nil, err
	}
	f := &Foundation{Account: account, Partition: partition, Region: a.Region, AWSProvider: p}
	onAWS := pulumi.Provider(p)
	prod := cfg.Environment == stacks.Prod
	name := cfg.ClusterName()

	key, err := platformkey.New(ctx, "key", &platformkey.Args{
		Alias: name, AccountID: account, Partition: partition, Region: a.Region, DeletionWindowDays: 30,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	f.KeyARN = key.ARN
	vpc, err := network.New(ctx, "network", &network.Args{
		Name: name, CIDR: a.VPCCIDR, Zones: zones, NATPerZone: prod, ClusterName: name, Region: a.Region,
		FlowLogRetentionDays: a.FlowLogRetentionDays, FlowLogKMSKeyARN: key.ARN,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	f.VpcID = vpc.VpcID
	gpu := a.NodeGroups.GPU
	general := a.NodeGroups.General
	eks, err := cluster.New(ctx, "eks", &cluster.Args{
		Name: name, Version: a.KubernetesVersion, Region: a.Region, Partition: partition,
		PrivateSubnetIDs: vpc.PrivateSubnetIDs, PublicAccessCIDRs: a.PublicAccessCIDRs, KMSKeyARN: key.ARN,
		Access:        cluster.Access{Admins: a.AdminRoleARNs, Deployers: a.DeployerRoleARNs, AppDeployers: a.AppDeployerRoleARNs, Viewers: a.ViewerRoleARNs},
		AddonVersions: a.AddonVersions,
		NodeGroups: []cluster.NodeGroup{
			{Name: "general", InstanceTypes: general.InstanceTypes, Scaling: gpunodegroup.Scaling{Min: general.Min, Desired: general.Desired, Max: general.Max}, DiskGiB: general.DiskGiB},
			{Name: stacks.GPUNodeGroupName, InstanceTypes: gpu.InstanceTypes, Scaling: gpunodegroup.Scaling{Min: gpu.Min, Desired: gpu.Desired, Max: gpu.Max}, DiskGiB: gpu.DiskGiB},
		},
		NodeKMSKeyARN: key.ARN,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	f.Cluster, f.Kubeconfig, f.Ready = eks, eks.Kubeconfig, eks.Ready

	var repos []string
	for _, img := range stacks.Images() {
		repos = append(repos, "intelliflow/"+img)
	}
	if _, err := storage.New(ctx, "storage", &storage.Args{BucketName: a.ModelBucket, KMSKeyARN: key.ARN, Repositories: repos}, onAWS); err != nil {
		return nil, err
	}

	// Data stores, reachable from the VPC only.
	clients := []string{a.VPCCIDR}
	pg, err := postgres.New(ctx, "postgres", &postgres.Args{
		Name: name, VpcID: vpc.VpcID, PrivateSubnetIDs: vpc.PrivateSubnetIDs, ClientCIDRs: clients, KMSKeyARN: key.ARN,
		InstanceClass: a.Postgres.InstanceClass, StorageGiB: a.Postgres.StorageGiB, MaxStorageGiB: a.Postgres.MaxStorageGiB,
		MajorVersion: a.Postgres.Version, Production: prod,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	cache, err := redis.New(ctx, "redis", &redis.Args{
		Name: name, VpcID: vpc.VpcID, PrivateSubnetIDs: vpc.PrivateSubnetIDs, ClientCIDRs: clients, KMSKeyARN: key.ARN,
		NodeType: a.Redis.NodeType, EngineVersion: a.Redis.Version, Production: prod,
		// The same secret the services read from their credentials Secret.
		AuthToken: creds.get(redisPasswordKey),
	}, onAWS)
	if err != nil {
		return nil, err
	}
	brokers, err := kafka.New(ctx, "kafka", &kafka.Args{
		Name: name, VpcID: vpc.VpcID, PrivateSubnetIDs: vpc.PrivateSubnetIDs, Zones: a.Zones, ClientCIDRs: clients, KMSKeyARN: key.ARN,
		InstanceType: a.Kafka.InstanceType, Version: a.Kafka.Version, Brokers: a.Kafka.Brokers, VolumeGiB: a.Kafka.VolumeGiB,
		LogRetentionDays: a.FlowLogRetentionDays,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	docs, err := documentdb.New(ctx, "documentdb", &documentdb.Args{
		Name: name + "-analytics", VpcID: vpc.VpcID, PrivateSubnetIDs: vpc.PrivateSubnetIDs, ClientCIDRs: clients, KMSKeyARN: key.ARN,
		InstanceClass: a.DocumentDB.InstanceClass, Instances: a.DocumentDB.Instances, EngineVersion: a.DocumentDB.Version,
		BackupRetentionDays: postgres.DurabilityFor(prod).BackupRetentionDays, Production: prod,
	}, onAWS)
	if err != nil {
		return nil, err
	}
	f.Config = managedStoreConfig(pg.Endpoint, cache.Endpoint, brokers.BootstrapBrokers, docs.Endpoint)
	f.DatabaseHost, f.DatabaseSecretARN = pg.Endpoint, pg.MasterSecretARN
	if cfg.Vault != nil {
		if err := vaultFoundation(ctx, cfg, f, eks, onAWS); err != nil {
			return nil, err
		}
	}
	if cfg.Charts {
		if err := addonsFoundation(ctx, cfg, f, eks, onAWS); err != nil {
			return nil, err
		}
		if err := certificateFoundation(ctx, cfg, f, eks, onAWS); err != nil {
			return nil, err
		}
	}

	// One IRSA role per service that calls AWS.
	f.Roles = map[string]pulumi.StringOutput{}
	for _, svc := range catalog.All() {
		perms := appPermissions(cfg, f, svc)
		if len(perms) == 0 {
			continue
		}
		role, err := irsa.New(ctx, "irsa-"+svc.Name, &irsa.Args{
			OIDCProviderARN: eks.OIDCProviderARN, OIDCIssuer: eks.OIDCIssuer,
			Namespace: cfg.Environment.AppNamespace(), ServiceAccount: svc.Name, Permissions: perms,
		}, onAWS)
		if err != nil {
			return nil, err
		}
		f.Roles[svc.Name] = role.ARN
	}
	ctx.Export("clusterName", eks.Name)
	ctx.Export("clusterEndpoint", eks.Endpoint)
	ctx.Export("kubeconfig", f.Kubeconfig)
	return f, nil
}

// vaultFoundation is what Vault needs from AWS: its own KMS key to unseal
// with, an IRSA role that may use only that key, the backup bucket, and the
// snapshot job's role that may only write Vault's folder of it.
func vaultFoundation(ctx *pulumi.Context, cfg stacks.Config, f *Foundation, eks *cluster.Cluster, opts ...pulumi.ResourceOption) error {
	a := cfg.AWS
	f.VaultUnsealAlias = cfg.ClusterName() + "-vault-unseal"
	if _, err := platformkey.New(ctx, "vault-unseal", &platformkey.Args{
		Alias: f.VaultUnsealAlias, AccountID: f.Account, Partition: f.Partition, Region: f.Region, DeletionWindowDays: 30,
	}, opts...); err != nil {
		return err
	}
	if _, err := storage.New(ctx, "backups", &storage.Args{BucketName: a.BackupBucket, KMSKeyARN: f.KeyARN, NoncurrentVersionDays: 365}, opts...); err != nil {
		return err
	}
	keys := fmt.Sprintf("arn:%s:kms:%s:%s:key/*", f.Partition, f.Region, f.Account)
	server, err := irsa.New(ctx, "irsa-vault", &irsa.Args{
		OIDCProviderARN: eks.OIDCProviderARN, OIDCIssuer: eks.OIDCIssuer, Namespace: stacks.SecurityNamespace, ServiceAccount: vault.ServerAccount,
		Permissions: []irsa.Statement{{
			Actions: []string{"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"}, Resources: []string{keys},
			Condition: map[string]map[string]string{"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/" + f.VaultUnsealAlias}},
		}},
	}, opts...)
	if err != nil {
		return err
	}
	snapshot, err := irsa.New(ctx, "irsa-vault-snapshot", &irsa.Args{
		OIDCProviderARN: eks.OIDCProviderARN, OIDCIssuer: eks.OIDCIssuer, Namespace: stacks.SecurityNamespace, ServiceAccount: vault.SnapshotAccount,
		Permissions: []irsa.Statement{
			{Actions: []string{"s3:PutObject"}, Resources: []string{fmt.Sprintf("arn:%s:s3:::%s/vault/*", f.Partition, a.BackupBucket)}},
			{Actions: []string{"kms:GenerateDataKey"}, Resources: []string{keys}, Condition: map[string]map[string]string{
				"StringEquals":             {"kms:ViaService": "s3." + f.Region + ".amazonaws.com"},
				"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/" + cfg.ClusterName()},
			}},
		},
	}, opts...)
	if err != nil {
		return err
	}
	f.VaultRole, f.VaultSnapshotRole = server.ARN, snapshot.ARN
	return nil
}

// certificateFoundation finds the public zone of the API's host and gives
// cert-manager's controller a role that may only answer ACME DNS-01
// challenges in it: TXT records named _acme-challenge.*, and the status of
// its own changes.
func certificateFoundation(ctx *pulumi.Context, cfg stacks.Config, f *Foundation, eks *cluster.Cluster, opts ...pulumi.ResourceOption) error {
	public := false
	zone, err := route53.LookupZone(ctx, &route53.LookupZoneArgs{Name: &cfg.AWS.DNSZone, PrivateZone: &public}, pulumi.Provider(f.AWSProvider))
	if err != nil {
		return fmt.Errorf("config %s:aws.dnsZone %q: no public Route 53 zone of that name: %w", stacks.Namespace, cfg.AWS.DNSZone, err)
	}
	f.HostedZoneID = zone.ZoneId
	hostedZone := fmt.Sprintf("arn:%s:route53:::hostedzone/%s", f.Partition, zone.ZoneId)
	role, err := irsa.New(ctx, "irsa-cert-manager", &irsa.Args{
		OIDCProviderARN: eks.OIDCProviderARN, OIDCIssuer: eks.OIDCIssuer,
		Namespace: stacks.CertManagerNamespace, ServiceAccount: certmanager.ServiceAccount,
		Permissions: []irsa.Statement{
			{
				Actions:   []string{"route53:ChangeResourceRecordSets"},
				Resources: []string{hostedZone},
				Condition: map[string]map[string]string{"ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": "_acme-challenge.*"},
					"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": "TXT"}},
			},
			{Actions: []string{"route53:ListResourceRecordSets"}, Resources: []string{hostedZone}},
			{Actions: []string{"route53:GetChange"}, Resources: []string{fmt.Sprintf("arn:%s:route53:::change/*", f.Partition)}},
		},
	}, opts...)
	if err != nil {
		return err
	}
	f.CertManagerRole = role.ARN
	return nil
}

// redisPasswordKey is the credentials key of the Redis AUTH token.
const redisPasswordKey = "redis-password"

// managedStoreConfig turns the stores' endpoints into the config keys the
// services read (configFor writes the same keys for external stores).
func managedStoreConfig(pgHost, redisHost, kafkaBrokers, docdbHost pulumi.StringOutput) map[catalog.Store]map[string]pulumi.StringInput {
	return map[catalog.Store]map[string]pulumi.StringInput{
		catalog.Postgres: {"DATABASE_HOST": pgHost},
		// ElastiCache with transit encryption speaks TLS only.
		catalog.Redis: {"REDIS_ADDR": pulumi.Sprintf("%s:%d", redisHost, redis.Port)},
		catalog.Kafka: {"KAFKA_BROKERS": kafkaBrokers},
		// DocumentDB: TLS, one replica set, no retryable writes.
		catalog.MongoDB: {"MONGODB_URI": pulumi.Sprintf("mongodb://%s:%d/intelliflow?tls=true&replicaSet=rs0&readPreference=secondaryPreferred&retryWrites=false", docdbHost, documentdb.Port)},
	}
}
