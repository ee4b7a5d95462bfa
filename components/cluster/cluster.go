// Package cluster provides the Cluster component: the EKS control plane the
// platform runs on. The API is private (public access off or limited to
// named networks), Secrets are envelope-encrypted with the platform's KMS
// key, every control-plane log goes to CloudWatch, access is granted through
// access entries only (the creator gets no hidden admin), the OIDC provider
// backs IAM roles for service accounts, and the add-ons are managed by EKS:
// the VPC CNI enforces NetworkPolicies, and the CNI and EBS CSI drivers run
// with their own IRSA roles instead of the node role.
package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/gpunodegroup"
	"github.com/intelliflow/platform/components/irsa"
	"github.com/intelliflow/platform/components/rbac"
)

// LogTypes are every control-plane log EKS can ship (AWS-03).
var LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

// Access is who may use the cluster, by IAM principal ARN.
type Access struct {
	// Admins get cluster admin (AmazonEKSClusterAdminPolicy).
	Admins []string
	// Deployers are the roles `pulumi up` runs as in CI: they own every
	// object the platform creates, cluster-scoped ones included, so they
	// get cluster admin too, visibly, as access entries.
	Deployers []string
	// AppDeployers are the delivery pipeline's roles: the namespaced
	// deployer role through the rbac.DeployersGroup, nothing more.
	AppDeployers []string
	// Viewers are on-call: the read-only rbac.ViewerRole through the
	// rbac.ViewersGroup (no Secrets).
	Viewers []string
}

// Args configures the cluster.
type Args struct {
	// Name is the EKS cluster name.
	Name string
	// Version pins the Kubernetes minor version, e.g. "1.33".
	Version string
	// Region is where the cluster runs; the kubeconfig names it.
	Region string
	// Partition is the AWS partition (aws, aws-cn, aws-us-gov), from an
	// invoke, for managed-policy ARNs.
	Partition string
	// PrivateSubnetIDs hold the control-plane network interfaces.
	PrivateSubnetIDs pulumi.StringArrayInput
	// PublicAccessCIDRs, when set, open the public endpoint to exactly these
	// networks; empty keeps the API private.
	PublicAccessCIDRs []string
	// KMSKeyARN encrypts Secrets in etcd.
	KMSKeyARN pulumi.StringInput
	// Access lists the principals with access entries.
	Access Access
	// AddonVersions pins add-on versions by add-on name; an add-on not named
	// gets EKS's default version for the pinned Kubernetes version.
	AddonVersions map[string]string
	// NodeGroups are the managed node groups (general, gpu), launched in
	// the private subnets with the node role; the add-ons that run as pods
	// are installed once they exist.
	NodeGroups []NodeGroup
	// NodeKMSKeyARN encrypts the nodes' root volumes.
	NodeKMSKeyARN pulumi.StringInput
	Tags          map[string]string
}

// NodeGroup sizes one managed node group; see gpunodegroup.Args.
type NodeGroup struct {
	Name          string
	InstanceTypes []string
	Scaling       gpunodegroup.Scaling
	DiskGiB       int
}

// ServiceCIDR is the cluster's Service address range, set explicitly so
// that network rules (Falco's allowed networks) can name it.
const ServiceCIDR = "172.20.0.0/16"

// Add-on names EKS manages for the platform.
const (
	AddonVPCCNI    = "vpc-cni"
	AddonCoreDNS   = "coredns"
	AddonKubeProxy = "kube-proxy"
	AddonEBSCSI    = "aws-ebs-csi-driver"
)

// Addons lists the add-ons the cluster installs, in dependency order.
var Addons = []string{AddonVPCCNI, AddonKubeProxy, AddonCoreDNS, AddonEBSCSI}

var (
	nameRE      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$`)
	versionRE   = regexp.MustCompile(`^1\.[0-9]{2}$`)
	roleARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(role|user|assumed-role)/[A-Za-z0-9+=,.@_/-]+$`)
	partitionRE = regexp.MustCompile(`^aws(-[a-z]+)*$`)
	addonVerRE  = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-eksbuild\.[0-9]+$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(field, format string, v ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, v...)))
	}
	if !nameRE.MatchString(a.Name) {
		bad("Name", "%q is not an EKS cluster name", a.Name)
	}
	if !versionRE.MatchString(a.Version) {
		bad("Version", "%q is not a pinned Kubernetes minor version like 1.33", a.Version)
	}
	if a.Region == "" || !partitionRE.MatchString(a.Partition) {
		bad("Region/Partition", "%q/%q: both come from the provider's invokes", a.Region, a.Partition)
	}
	if a.PrivateSubnetIDs == nil || a.KMSKeyARN == nil {
		bad("PrivateSubnetIDs/KMSKeyARN", "are required")
	}
	for i, c := range a.PublicAccessCIDRs {
		p, err := netip.ParsePrefix(c)
		switch {
		case err != nil:
			bad(fmt.Sprintf("PublicAccessCIDRs[%d]", i), "%q is not a CIDR", c)
		case p.Bits() == 0:
			bad(fmt.Sprintf("PublicAccessCIDRs[%d]", i), "%s opens the API to the internet; name the operators' networks (AWS-01)", c)
		}
	}
	if len(a.Access.Admins) == 0 {
		bad("Access.Admins", "name at least one admin role: the creator gets no admin of its own (AWS-04)")
	}
	seen := map[string]bool{}
	for _, group := range [][]string{a.Access.Admins, a.Access.Deployers, a.Access.AppDeployers, a.Access.Viewers} {
		for _, arn := range group {
			if !roleARNRE.MatchString(arn) {
				bad("Access", "%q is not an IAM role or user ARN", arn)
			}
			if seen[arn] {
				bad("Access", "%q is listed twice; one principal, one access entry", arn)
			}
			seen[arn] = true
		}
	}
	for addon, v := range a.AddonVersions {
		if !slices.Contains(Addons, addon) {
			bad("AddonVersions", "unknown add-on %q; the cluster installs %v", addon, Addons)
		}
		if !addonVerRE.MatchString(v) {
			bad("AddonVersions."+addon, "%q is not an EKS add-on version like v1.19.2-eksbuild.1", v)
		}
	}
	if len(a.NodeGroups) == 0 {
		bad("NodeGroups", "name at least one node group")
	}
	names := map[string]bool{}
	for i, ng := range a.NodeGroups {
		ngArgs := a.nodeGroupArgs(ng, nil, nil)
		if err := ngArgs.Validate(); err != nil {
			bad(fmt.Sprintf("NodeGroups[%d]", i), "%v", err)
		}
		if names[ng.Name] {
			bad(fmt.Sprintf("NodeGroups[%d]", i), "%q is listed twice", ng.Name)
		}
		names[ng.Name] = true
	}
	return errors.Join(errs...)
}

// nodeGroupArgs completes a node group with what the cluster provides.
func (a *Args) nodeGroupArgs(ng NodeGroup, clusterName, nodeRole pulumi.StringInput) *gpunodegroup.Args {
	if clusterName == nil {
		// Validation only: the real values exist once the cluster does.
		clusterName, nodeRole = pulumi.String(a.Name), pulumi.String("")
	}
	return &gpunodegroup.Args{
		ClusterName: clusterName, NodeRoleARN: nodeRole, PrivateSubnetIDs: a.PrivateSubnetIDs,
		Name: ng.Name, InstanceTypes: ng.InstanceTypes, Scaling: ng.Scaling, DiskGiB: ng.DiskGiB,
		KMSKeyARN: a.NodeKMSKeyARN, Tags: a.Tags,
	}
}

// Cluster is the created cluster.
type Cluster struct {
	pulumi.ResourceState

	Name     pulumi.StringOutput `pulumi:"name"`
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	// OIDCProviderARN and OIDCIssuer (https://...) back IRSA roles.
	OIDCProviderARN pulumi.StringOutput `pulumi:"oidcProviderArn"`
	OIDCIssuer      pulumi.StringOutput `pulumi:"oidcIssuer"`
	// NodeRoleARN is the role the managed node groups launch with.
	NodeRoleARN pulumi.StringOutput `pulumi:"nodeRoleArn"`
	// NodeGroups by name.
	NodeGroups map[string]*gpunodegroup.NodeGroup
	// Kubeconfig reaches the API with `aws eks get-token`: it holds no
	// credential of its own.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// Ready is what Kubernetes objects wait for: the deployers' access
	// entries, the node groups and every add-on.
	Ready []pulumi.Resource
}

// ServiceRoleTrust lets one AWS service assume a role.
func ServiceRoleTrust(service string) string {
	b, _ := json.Marshal(map[string]any{ // maps of strings always marshal
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": service},
		}},
	})
	return string(b)
}

// ManagedPolicy is the ARN of an AWS-managed policy in a partition.
func ManagedPolicy(partition, name string) string {
	return fmt.Sprintf("arn:%s:iam::aws:policy/%s", partition, name)
}

// AccessPolicy is the ARN of an EKS access policy in a partition.
func AccessPolicy(partition, name string) string {
	return fmt.Sprintf("arn:%s:eks::aws:cluster-access-policy/%s", partition, name)
}

// Kubeconfig is a kubeconfig for the cluster that gets a token from the AWS
// CLI on every use, so no credential is stored in it (or in state).
func Kubeconfig(name, endpoint, caData, region string) string {
	user := map[string]any{"exec": map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1beta1",
		"command":    "aws",
		"args":       []string{"eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"},
	}}
	b, _ := json.Marshal(map[string]any{ // maps of strings always marshal
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": name, "cluster": map[string]any{"server": endpoint, "certificate-authority-data": caData}}},
		"users":           []any{map[string]any{"name": name, "user": user}},
		"contexts":        []any{map[string]any{"name": name, "context": map[string]any{"cluster": name, "user": name}}},
		"current-context": name,
	})
	return string(b)
}

// New creates the cluster.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		return nil, fmt.Errorf("cluster %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Cluster", name, c, opts...); err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	parent := pulumi.Parent(c)
	wrap := func(child string, err error) error { return fmt.Errorf("cluster %q: %s: %w", name, child, err) }
	tags := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}
	for k, v := range args.Tags {
		tags[k] = pulumi.String(v)
	}
	policy := func(n string) pulumi.String { return pulumi.String(ManagedPolicy(args.Partition, n)) }

	serviceRole := func(child, service string, policies ...string) (*iam.Role, error) {
		role, err := iam.NewRole(ctx, name+"-"+child, &iam.RoleArgs{
			Description: pulumi.Sprintf("EKS %s role of %s", child, args.Name), AssumeRolePolicy: pulumi.String(ServiceRoleTrust(service)), Tags: tags,
		}, parent)
		if err != nil {
			return nil, wrap(child+" role", err)
		}
		for _, p := range policies {
			if _, err := iam.NewRolePolicyAttachment(ctx, name+"-"+child+"-"+strings.ToLower(p), &iam.RolePolicyAttachmentArgs{
				Role: role.Name, PolicyArn: policy(p),
			}, parent); err != nil {
				return nil, wrap(child+" role policy "+p, err)
			}
		}
		return role, nil
	}
	controlRole, err := serviceRole("control-plane", "eks.amazonaws.com", "AmazonEKSClusterPolicy")
	if err != nil {
		return nil, err
	}
	// Nodes pull images and register; SSM replaces SSH. The CNI's rights
	// belong to its own IRSA role, not to every pod's node.
	nodeRole, err := serviceRole("node", "ec2.amazonaws.com", "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore")
	if err != nil {
		return nil, err
	}

	vpc := &eks.ClusterVpcConfigArgs{
		SubnetIds:             args.PrivateSubnetIDs,
		EndpointPrivateAccess: pulumi.Bool(true),
		EndpointPublicAccess:  pulumi.Bool(len(args.PublicAccessCIDRs) > 0),
	}
	if len(args.PublicAccessCIDRs) > 0 {
		vpc.PublicAccessCidrs = pulumi.ToStringArray(args.PublicAccessCIDRs)
	}
	cluster, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:                   pulumi.String(args.Name),
		Version:                pulumi.String(args.Version),
		RoleArn:                controlRole.Arn,
		VpcConfig:              vpc,
		EnabledClusterLogTypes: pulumi.ToStringArray(LogTypes),
		KubernetesNetworkConfig: &eks.ClusterKubernetesNetworkConfigArgs{
			ServiceIpv4Cidr: pulumi.String(ServiceCIDR), IpFamily: pulumi.String("ipv4"),
		},
		EncryptionConfig: &eks.ClusterEncryptionConfigArgs{
			Resources: pulumi.ToStringArray([]string{"secrets"}),
			Provider:  &eks.ClusterEncryptionConfigProviderArgs{KeyArn: args.KMSKeyARN},
		},
		AccessConfig: &eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(false),
		},
		// The add-ons below are EKS-managed from the start, each with its
		// own role; nothing is installed behind their back.
		BootstrapSelfManagedAddons: pulumi.Bool(false),
		UpgradePolicy:              &eks.ClusterUpgradePolicyArgs{SupportType: pulumi.String("STANDARD")},
		Tags:                       tags,
	}, parent)
	if err != nil {
		return nil, wrap("eks", err)
	}

	issuer := cluster.Identities.ApplyT(func(ids []eks.ClusterIdentity) (string, error) {
		if len(ids) == 0 || len(ids[0].Oidcs) == 0 || ids[0].Oidcs[0].Issuer == nil {
			return "", errors.New("EKS reported no OIDC issuer")
		}
		return *ids[0].Oidcs[0].Issuer, nil
	}).(pulumi.StringOutput)
	oidc, err := iam.NewOpenIdConnectProvider(ctx, name+"-oidc", &iam.OpenIdConnectProviderArgs{
		Url: issuer, ClientIdLists: pulumi.ToStringArray([]string{"sts.amazonaws.com"}), Tags: tags,
	}, parent)
	if err != nil {
		return nil, wrap("oidc provider", err)
	}

	// Access entries: admins and deployers get cluster admin through the
	// EKS access policy; the pipeline's app deployers and the viewers get a
	// Kubernetes group that our RBAC roles bind; no aws-auth ConfigMap.
	var ready []pulumi.Resource
	grant := func(kind string, arns []string, accessPolicy string, groups []string) error {
		for i, arn := range arns {
			child := fmt.Sprintf("%s-%s-%d", name, kind, i)
			entryArgs := &eks.AccessEntryArgs{
				ClusterName: cluster.Name, PrincipalArn: pulumi.String(arn), Type: pulumi.String("STANDARD"), Tags: tags,
			}
			if len(groups) > 0 {
				entryArgs.KubernetesGroups = pulumi.ToStringArray(groups)
			}
			entry, err := eks.NewAccessEntry(ctx, child, entryArgs, parent)
			if err != nil {
				return wrap(kind+" access entry", err)
			}
			if accessPolicy == "" {
				continue
			}
			assoc, err := eks.NewAccessPolicyAssociation(ctx, child, &eks.AccessPolicyAssociationArgs{
				ClusterName: cluster.Name, PrincipalArn: entry.PrincipalArn,
				PolicyArn:   pulumi.String(AccessPolicy(args.Partition, accessPolicy)),
				AccessScope: &eks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")},
			}, parent)
			if err != nil {
				return wrap(kind+" access policy", err)
			}
			if kind == "deployer" {
				ready = append(ready, assoc)
			}
		}
		return nil
	}
	for _, g := range []struct {
		kind, policy string
		arns         []string
		groups       []string
	}{
		{"admin", "AmazonEKSClusterAdminPolicy", args.Access.Admins, nil},
		{"deployer", "AmazonEKSClusterAdminPolicy", args.Access.Deployers, nil},
		{"app-deployer", "", args.Access.AppDeployers, []string{rbac.DeployersGroup}},
		{"viewer", "", args.Access.Viewers, []string{rbac.ViewersGroup}},
	} {
		if err := grant(g.kind, g.arns, g.policy, g.groups); err != nil {
			return nil, err
		}
	}

	// Add-ons, the CNI (with NetworkPolicy enforcement) and EBS CSI driver
	// on IRSA roles pinned to their service accounts.
	addonRole := map[string]*irsa.AppRole{}
	for addon, sa := range map[string]struct{ account, policy string }{
		AddonVPCCNI: {"aws-node", "AmazonEKS_CNI_Policy"},
		AddonEBSCSI: {"ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"},
	} {
		r, err := irsa.New(ctx, name+"-"+addon, &irsa.Args{
			OIDCProviderARN: oidc.Arn, OIDCIssuer: issuer, Namespace: "kube-system", ServiceAccount: sa.account,
			ManagedPolicyARNs: []string{ManagedPolicy(args.Partition, sa.policy)},
		}, parent)
		if err != nil {
			return nil, wrap(addon+" role", err)
		}
		addonRole[addon] = r
	}
	// The CNI and kube-proxy are DaemonSets nodes need to become Ready;
	// CoreDNS and the EBS CSI controller are Deployments that need nodes.
	var nodeNeeds, podAddons []pulumi.Resource
	addon := func(addon string, after []pulumi.Resource) (*eks.Addon, error) {
		a := &eks.AddonArgs{
			ClusterName: cluster.Name, AddonName: pulumi.String(addon),
			ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), ResolveConflictsOnUpdate: pulumi.String("PRESERVE"),
			Tags: tags,
		}
		if v, ok := args.AddonVersions[addon]; ok {
			a.AddonVersion = pulumi.String(v)
		}
		if r, ok := addonRole[addon]; ok {
			a.ServiceAccountRoleArn = r.ARN
		}
		if addon == AddonVPCCNI {
			a.ConfigurationValues = pulumi.String(`{"enableNetworkPolicy":"true"}`)
		}
		created, err := eks.NewAddon(ctx, name+"-"+addon, a, parent, pulumi.DependsOn(after))
		if err != nil {
			return nil, wrap(addon+" add-on", err)
		}
		return created, nil
	}
	for _, a := range []string{AddonVPCCNI, AddonKubeProxy} {
		created, err := addon(a, nil)
		if err != nil {
			return nil, err
		}
		nodeNeeds = append(nodeNeeds, created)
	}
	c.NodeGroups = map[string]*gpunodegroup.NodeGroup{}
	var nodes []pulumi.Resource
	for _, ng := range args.NodeGroups {
		group, err := gpunodegroup.New(ctx, name+"-"+ng.Name, args.nodeGroupArgs(ng, cluster.Name, nodeRole.Arn), parent, pulumi.DependsOn(nodeNeeds))
		if err != nil {
			return nil, wrap("node group", err)
		}
		c.NodeGroups[ng.Name] = group
		nodes = append(nodes, group)
	}
	for _, a := range []string{AddonCoreDNS, AddonEBSCSI} {
		created, err := addon(a, nodes)
		if err != nil {
			return nil, err
		}
		podAddons = append(podAddons, created)
	}
	ready = append(append(append(ready, nodeNeeds...), nodes...), podAddons...)

	c.Name = cluster.Name
	c.Endpoint = cluster.Endpoint
	c.OIDCProviderARN = oidc.Arn
	c.OIDCIssuer = issuer
	c.NodeRoleARN = nodeRole.Arn
	c.Kubeconfig = pulumi.All(cluster.Name, cluster.Endpoint, cluster.CertificateAuthority.Data()).ApplyT(func(v []any) string {
		ca, _ := v[2].(*string)
		if ca == nil {
			ca = new(string)
		}
		return Kubeconfig(v[0].(string), v[1].(string), *ca, args.Region)
	}).(pulumi.StringOutput)
	c.Ready = ready
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name": c.Name, "endpoint": c.Endpoint, "oidcProviderArn": c.OIDCProviderARN, "oidcIssuer": c.OIDCIssuer,
		"nodeRoleArn": c.NodeRoleARN, "kubeconfig": c.Kubeconfig,
	}); err != nil {
		return nil, wrap("outputs", err)
	}
	return c, nil
}
