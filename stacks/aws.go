package stacks

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/redis"
)

// AWS is the foundation staging and prod run on: the VPC, EKS with its node
// groups, the platform KMS key, the model bucket and the managed data stores.
// The stack's Kubernetes objects go to the cluster it creates.
type AWS struct {
	Region string `json:"region"`
	// VPCCIDR is the VPC's address space (/16 to /20).
	VPCCIDR string `json:"vpcCidr"`
	// Zones is how many availability zones of the region to use (2 or 3),
	// taken in order from the region's zone list.
	Zones int `json:"zones"`
	// KubernetesVersion pins the EKS minor version.
	KubernetesVersion string `json:"kubernetesVersion"`
	// PublicAccessCIDRs opens the EKS API to these networks; empty keeps
	// it private (operators come through the VPC).
	PublicAccessCIDRs []string `json:"publicAccessCidrs"`
	// AdminRoleARNs, DeployerRoleARNs, AppDeployerRoleARNs and
	// ViewerRoleARNs get EKS access entries: cluster admin; cluster admin
	// for the CI role `pulumi up` runs as; the namespaced app deployer role
	// for the delivery pipeline; read-only without Secrets.
	AdminRoleARNs       []string `json:"adminRoleArns"`
	DeployerRoleARNs    []string `json:"deployerRoleArns"`
	AppDeployerRoleARNs []string `json:"appDeployerRoleArns"`
	ViewerRoleARNs      []string `json:"viewerRoleArns"`
	// AddonVersions pins EKS add-on versions (default: EKS's default for
	// the pinned Kubernetes version).
	AddonVersions map[string]string `json:"addonVersions"`
	NodeGroups    NodeGroups        `json:"nodeGroups"`
	// ModelBucket is the S3 bucket of the model artifacts.
	ModelBucket string `json:"modelBucket"`
	// BackupBucket receives backups (Vault's raft snapshots).
	BackupBucket string `json:"backupBucket"`
	// SESIdentity is the verified SES domain notifications may send from.
	SESIdentity string `json:"sesIdentity"`
	// DNSZone is the public Route 53 zone that holds the API's host: the
	// ACME issuers prove control of the host with TXT records there.
	DNSZone              string     `json:"dnsZone"`
	FlowLogRetentionDays int        `json:"flowLogRetentionDays"`
	Postgres             Postgres   `json:"postgres"`
	Redis                Redis      `json:"redis"`
	Kafka                Kafka      `json:"kafka"`
	DocumentDB           DocumentDB `json:"documentdb"`
}

// NodeGroups are the cluster's managed node groups.
type NodeGroups struct {
	General NodeGroup `json:"general"`
	// GPU is the group GPU workloads run on, named by gpuNodeGroup.
	GPU NodeGroup `json:"gpu"`
}

// NodeGroup sizes a node group.
type NodeGroup struct {
	InstanceTypes []string `json:"instanceTypes"`
	Min           int      `json:"min"`
	Desired       int      `json:"desired"`
	Max           int      `json:"max"`
	DiskGiB       int      `json:"diskGiB"`
}

// Postgres sizes RDS PostgreSQL.
type Postgres struct {
	InstanceClass string `json:"instanceClass"`
	StorageGiB    int    `json:"storageGiB"`
	MaxStorageGiB int    `json:"maxStorageGiB"`
	Version       string `json:"version"`
}

// Redis sizes ElastiCache.
type Redis struct {
	NodeType string `json:"nodeType"`
	Version  string `json:"version"`
}

// Kafka sizes MSK.
type Kafka struct {
	InstanceType string `json:"instanceType"`
	Version      string `json:"version"`
	Brokers      int    `json:"brokers"`
	VolumeGiB    int    `json:"volumeGiB"`
}

// DocumentDB sizes the analytics store.
type DocumentDB struct {
	InstanceClass string `json:"instanceClass"`
	Instances     int    `json:"instances"`
	Version       string `json:"version"`
}

// GPUNodeGroupName is the name of the GPU node group the foundation creates.
const GPUNodeGroupName = "gpu"

// DefaultAWS returns an environment's foundation; dev has none. The admin
// and deployer roles have no default: every team names its own.
func DefaultAWS(env Environment) *AWS {
	switch env {
	case Staging:
		return &AWS{
			Region: "eu-west-1", VPCCIDR: "10.20.0.0/16", Zones: 3, KubernetesVersion: "1.33",
			NodeGroups: NodeGroups{
				General: NodeGroup{InstanceTypes: []string{"m6i.xlarge"}, Min: 3, Desired: 3, Max: 12, DiskGiB: 50},
				GPU:     NodeGroup{InstanceTypes: []string{"g5.xlarge"}, Min: 2, Desired: 2, Max: 4, DiskGiB: 100},
			},
			ModelBucket: "intelliflow-staging-models", BackupBucket: "intelliflow-staging-backups", SESIdentity: "staging.intelliflow.example", FlowLogRetentionDays: 30,
			DNSZone:    "intelliflow.example",
			Postgres:   Postgres{InstanceClass: "db.t4g.medium", StorageGiB: 50, MaxStorageGiB: 200, Version: "16"},
			Redis:      Redis{NodeType: "cache.t4g.small", Version: "7.1"},
			Kafka:      Kafka{InstanceType: "kafka.t3.small", Version: "3.6.0", Brokers: 3, VolumeGiB: 100},
			DocumentDB: DocumentDB{InstanceClass: "db.t4g.medium", Instances: 1, Version: "5.0.0"},
		}
	case Prod:
		// The seed's cluster: 3+ nodes of 16 GiB and 50 GB+ each (m6i.2xlarge:
		// 32 GiB), room for transactions' 50 replicas on distinct nodes, and
		// the fraud server's 4 to 12 GPU pods on one-GPU nodes.
		return &AWS{
			Region: "eu-west-1", VPCCIDR: "10.30.0.0/16", Zones: 3, KubernetesVersion: "1.33",
			NodeGroups: NodeGroups{
				General: NodeGroup{InstanceTypes: []string{"m6i.2xlarge"}, Min: 6, Desired: 6, Max: 60, DiskGiB: 100},
				GPU:     NodeGroup{InstanceTypes: []string{"g5.xlarge"}, Min: 4, Desired: 4, Max: 12, DiskGiB: 100},
			},
			ModelBucket: "intelliflow-prod-models", BackupBucket: "intelliflow-prod-backups", SESIdentity: "intelliflow.example", FlowLogRetentionDays: 365,
			DNSZone:    "intelliflow.example",
			Postgres:   Postgres{InstanceClass: "db.r6g.xlarge", StorageGiB: 200, MaxStorageGiB: 2000, Version: "16"},
			Redis:      Redis{NodeType: "cache.r7g.large", Version: "7.1"},
			Kafka:      Kafka{InstanceType: "kafka.m7g.large", Version: "3.6.0", Brokers: 3, VolumeGiB: 500},
			DocumentDB: DocumentDB{InstanceClass: "db.r6g.large", Instances: 3, Version: "5.0.0"},
		}
	}
	return nil
}

// ManagedStores are the stores the foundation creates; their endpoints come
// from it, not from dataStores.
var ManagedStores = []catalog.Store{catalog.Postgres, catalog.Redis, catalog.Kafka, catalog.MongoDB}

// managedPorts are the ports the managed stores listen on (Kafka: IAM over TLS).
var managedPorts = map[catalog.Store]int{catalog.Postgres: 5432, catalog.Redis: 6379, catalog.Kafka: 9098, catalog.MongoDB: 27017}

// ClusterName is the EKS cluster's name.
func (c Config) ClusterName() string { return "intelliflow-" + c.Stack }

var (
	awsRegionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	k8sMinorRE  = regexp.MustCompile(`^1\.[0-9]{2}$`)
	bucketRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	principalRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$`)
	domainRE    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$`)
)

// validateAWS checks the foundation's settings, each error naming its key.
// The components validate again; these checks name config keys and look
// across settings (node groups against the services they must hold).
func (c Config) validateAWS() []error {
	a := c.AWS
	if a == nil {
		return nil
	}
	var errs []error
	bad := func(k, format string, v ...any) {
		errs = append(errs, fmt.Errorf("config %s:aws.%s: %s", Namespace, k, fmt.Sprintf(format, v...)))
	}
	if !awsRegionRE.MatchString(a.Region) {
		bad("region", "%q is not an AWS region like eu-west-1", a.Region)
	}
	if p, err := netip.ParsePrefix(a.VPCCIDR); err != nil || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() < 16 || p.Bits() > 20 || p.Masked() != p {
		bad("vpcCidr", "%q: want a private IPv4 /16 to /20 without host bits (EKS pods take VPC addresses)", a.VPCCIDR)
	}
	if a.Zones < 2 || a.Zones > 3 {
		bad("zones", "%d: want 2 or 3 availability zones", a.Zones)
	}
	if !k8sMinorRE.MatchString(a.KubernetesVersion) {
		bad("kubernetesVersion", "%q is not a pinned minor version like 1.33", a.KubernetesVersion)
	} else if minor(a.KubernetesVersion) < minor(c.PodSecurityVersion) {
		bad("kubernetesVersion", "%s is older than podSecurityVersion %s: the cluster would not know that Pod Security version", a.KubernetesVersion, c.PodSecurityVersion)
	}
	for i, cidr := range a.PublicAccessCIDRs {
		if p, err := netip.ParsePrefix(cidr); err != nil || p.Bits() == 0 {
			bad(fmt.Sprintf("publicAccessCidrs[%d]", i), "%q: name the operators' networks; never the whole internet (AWS-01)", cidr)
		}
	}
	if len(a.AdminRoleARNs) == 0 {
		bad("adminRoleArns", "name at least one admin role: the cluster's creator gets no admin of its own (AWS-04)")
	}
	if len(a.DeployerRoleARNs) == 0 {
		bad("deployerRoleArns", "name the role `pulumi up` runs as: it needs an access entry to create the platform's objects")
	}
	for k, arns := range map[string][]string{"adminRoleArns": a.AdminRoleARNs, "deployerRoleArns": a.DeployerRoleARNs, "appDeployerRoleArns": a.AppDeployerRoleARNs, "viewerRoleArns": a.ViewerRoleARNs} {
		for i, arn := range arns {
			if !principalRE.MatchString(arn) {
				bad(fmt.Sprintf("%s[%d]", k, i), "%q is not an IAM role or user ARN", arn)
			}
		}
	}
	for name, ng := range map[string]NodeGroup{"general": a.NodeGroups.General, GPUNodeGroupName: a.NodeGroups.GPU} {
		key := "nodeGroups." + name
		if len(ng.InstanceTypes) == 0 {
			bad(key+".instanceTypes", "name at least one instance type")
		}
		for _, it := range ng.InstanceTypes {
			if _, err := gpunodegroup.AMIType(it); err != nil {
				bad(key+".instanceTypes", "%v", err)
			} else if gpunodegroup.IsGPU(it) != (name == GPUNodeGroupName) {
				bad(key+".instanceTypes", "%s: the %s group takes %s instance types", it, name, map[bool]string{true: "GPU", false: "CPU"}[name == GPUNodeGroupName])
			}
		}
		if ng.Max < 1 || ng.Min < 0 || ng.Min > ng.Desired || ng.Desired > ng.Max {
			bad(key, "want 0 <= min <= desired <= max and max >= 1, got %d/%d/%d", ng.Min, ng.Desired, ng.Max)
		}
		if ng.DiskGiB < 50 || ng.DiskGiB > 2000 {
			bad(key+".diskGiB", "%d: want 50..2000 (the seed asks for 50 GB+ per node)", ng.DiskGiB)
		}
	}
	errs = append(errs, c.validateGPUCapacity()...)
	errs = append(errs, c.validateHostSpread()...)
	if tok, ok := c.Credentials["redis-password"]; ok {
		// It is also the ElastiCache AUTH token. Never echo it: it is a secret.
		if err := redis.ValidAuthToken(tok); err != nil {
			errs = append(errs, fmt.Errorf("config %s:credentials: redis-password %v", Namespace, err))
		}
	}
	if !bucketRE.MatchString(a.ModelBucket) {
		bad("modelBucket", "%q is not an S3 bucket name", a.ModelBucket)
	} else if c.FraudModel.URI != "" && c.FraudModel.Bucket() != a.ModelBucket {
		bad("modelBucket", "%q is not the bucket of fraudModel.uri %s: the fraud pods could not read their model", a.ModelBucket, c.FraudModel.URI)
	}
	if !bucketRE.MatchString(a.BackupBucket) || a.BackupBucket == a.ModelBucket {
		bad("backupBucket", "%q is not a bucket name of its own", a.BackupBucket)
	}
	if !domainRE.MatchString(a.SESIdentity) {
		bad("sesIdentity", "%q is not a domain", a.SESIdentity)
	}
	if !domainRE.MatchString(a.DNSZone) {
		bad("dnsZone", "%q is not a DNS zone name", a.DNSZone)
	} else if h := c.Ingress.Host; h != a.DNSZone && !strings.HasSuffix(h, "."+a.DNSZone) {
		bad("dnsZone", "%q does not hold the API's host %q: the ACME issuer could not prove it", a.DNSZone, h)
	}
	if !slices.Contains([]int{7, 14, 30, 60, 90, 180, 365, 731}, a.FlowLogRetentionDays) {
		bad("flowLogRetentionDays", "%d is not a CloudWatch retention (7, 14, 30, 60, 90, 180, 365, 731)", a.FlowLogRetentionDays)
	}
	if a.Kafka.Brokers < a.Zones || (a.Zones > 0 && a.Kafka.Brokers%a.Zones != 0) {
		bad("kafka.brokers", "%d: MSK wants a multiple of the %d zones", a.Kafka.Brokers, a.Zones)
	}
	if c.Environment == Prod && a.Kafka.Brokers < 3 {
		bad("kafka.brokers", "%d: prod keeps three copies of every message on three brokers", a.Kafka.Brokers)
	}
	if c.Environment == Prod && a.DocumentDB.Instances < 2 {
		bad("documentdb.instances", "%d: prod needs a replica in another zone to fail over to", a.DocumentDB.Instances)
	}
	return errs
}

// validateGPUCapacity checks that the GPU group can hold the GPU services at
// their maximum: otherwise the HPA scales into Pending pods at peak.
func (c Config) validateGPUCapacity() []error {
	if c.GPUNodeGroup == "" {
		return nil
	}
	if c.GPUNodeGroup != GPUNodeGroupName {
		return []error{fmt.Errorf("config %s:gpuNodeGroup: %q; the AWS foundation's GPU group is %q", Namespace, c.GPUNodeGroup, GPUNodeGroupName)}
	}
	ng := c.AWS.NodeGroups.GPU
	if len(ng.InstanceTypes) == 0 {
		return nil
	}
	perNode := -1
	for _, it := range ng.InstanceTypes {
		n, err := gpunodegroup.GPUsPerNode(it)
		if err != nil {
			return nil // reported with the instance types
		}
		if perNode < 0 || n < perNode {
			perNode = n
		}
	}
	need := 0
	for _, name := range catalog.Names() {
		s := c.Services[name]
		need += s.MaxReplicas * s.GPU
	}
	if have := ng.Max * perNode; need > have {
		return []error{fmt.Errorf("config %s:aws.nodeGroups.gpu.max: %d nodes x %d GPUs hold %d GPU pods, but the services scale to %d; raise max or lower the services' maxReplicas",
			Namespace, ng.Max, perNode, have, need)}
	}
	return nil
}

// Bucket is the bucket of the model's s3:// URI.
func (m ModelArtifact) Bucket() string {
	rest, _ := strings.CutPrefix(m.URI, "s3://")
	bucket, _, _ := strings.Cut(rest, "/")
	return bucket
}

// minor is the minor number of "1.33" or "v1.33"; -1 if it is neither.
func minor(v string) int {
	_, m, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	n, err := strconv.Atoi(m)
	if !ok || err != nil {
		return -1
	}
	return n
}

// validateHostSpread checks that the general group has a node for every
// replica of a service that puts at most one pod per node: below min nodes
// the rollout never completes, below max the HPA scales into Pending pods.
func (c Config) validateHostSpread() []error {
	ng := c.AWS.NodeGroups.General
	var errs []error
	for _, name := range catalog.Names() {
		s := c.Services[name]
		if !s.RequiredHostAntiAffinity || s.GPU > 0 {
			continue
		}
		if ng.Min < s.MinReplicas {
			errs = append(errs, fmt.Errorf("config %s:aws.nodeGroups.general.min: %d nodes, but %s runs %d replicas on distinct nodes (requiredHostAntiAffinity); raise min to %d",
				Namespace, ng.Min, name, s.MinReplicas, s.MinReplicas))
		}
		if ng.Max < s.MaxReplicas {
			errs = append(errs, fmt.Errorf("config %s:aws.nodeGroups.general.max: %d nodes, but %s scales to %d replicas on distinct nodes (requiredHostAntiAffinity); raise max to %d or lower its maxReplicas",
				Namespace, ng.Max, name, s.MaxReplicas, s.MaxReplicas))
		}
	}
	return errs
}
