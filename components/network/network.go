package network

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures the VPC.
type Args struct {
	// Name prefixes every resource name and Name tag.
	Name string
	// CIDR is the VPC's address space, a /16 to /20.
	CIDR string
	// Zones are the availability zones, from an invoke (2 or 3).
	Zones []string
	// NATPerZone runs a NAT gateway in every zone (prod).
	NATPerZone bool
	// ClusterName tags the subnets for EKS load-balancer discovery.
	ClusterName string
	// Region names the VPC endpoint services.
	Region string
	// FlowLogRetentionDays keeps flow logs this long.
	FlowLogRetentionDays int
	// FlowLogKMSKeyARN encrypts the flow-log group (optional).
	FlowLogKMSKeyARN pulumi.StringInput
}

// Network is the created VPC.
type Network struct {
	pulumi.ResourceState

	VpcID            pulumi.StringOutput      `pulumi:"vpcId"`
	PrivateSubnetIDs pulumi.StringArrayOutput `pulumi:"privateSubnetIds"`
	PublicSubnetIDs  pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
	// EndpointSecurityGroupID guards the interface endpoints.
	EndpointSecurityGroupID pulumi.StringOutput `pulumi:"endpointSecurityGroupId"`
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

// retentionDays are the values CloudWatch Logs accepts.
var retentionDays = map[int]bool{1: true, 3: true, 5: true, 7: true, 14: true, 30: true, 60: true, 90: true, 120: true, 150: true, 180: true, 365: true, 400: true, 545: true, 731: true}

// Validate reports every problem, naming the field.
func (a *Args) Validate() (netip.Prefix, []SubnetPlan, error) {
	var errs []error
	if !nameRE.MatchString(a.Name) || !nameRE.MatchString(a.ClusterName) {
		errs = append(errs, fmt.Errorf("Name %q and ClusterName %q must be DNS labels", a.Name, a.ClusterName))
	}
	if !regionRE.MatchString(a.Region) {
		errs = append(errs, fmt.Errorf("Region %q is not an AWS region", a.Region))
	}
	if !retentionDays[a.FlowLogRetentionDays] {
		errs = append(errs, fmt.Errorf("FlowLogRetentionDays %d is not a CloudWatch retention (7, 30, 90, 365, ...)", a.FlowLogRetentionDays))
	}
	vpc, err := netip.ParsePrefix(a.CIDR)
	if err != nil {
		return vpc, nil, errors.Join(append(errs, fmt.Errorf("CIDR: %w", err))...)
	}
	plans, err := PlanSubnets(vpc, a.Zones)
	if err != nil {
		errs = append(errs, fmt.Errorf("CIDR/Zones: %w", err))
	}
	return vpc, plans, errors.Join(errs...)
}

// New creates the VPC: public and private subnets per zone with EKS
// discovery tags, an internet gateway, NAT gateways, routes, endpoints for
// S3, ECR and STS (image pulls and IRSA never leave the VPC), and flow logs.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Network, error) {
	if args == nil {
		return nil, fmt.Errorf("network %q: args are required", name)
	}
	vpcPrefix, plans, err := args.Validate()
	if err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	n := &Network{}
	if err := ctx.RegisterComponentResource("intelliflow:aws:Network", name, n, opts...); err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	parent := pulumi.Parent(n)
	wrap := func(child string, err error) error { return fmt.Errorf("network %q: %s: %w", name, child, err) }
	tags := func(nameTag string, extra map[string]string) pulumi.StringMap {
		t := pulumi.StringMap{"Name": pulumi.String(nameTag), "app.kubernetes.io/part-of": pulumi.String("intelliflow")}
		for k, v := range extra {
			t[k] = pulumi.String(v)
		}
		return t
	}
	cluster := "kubernetes.io/cluster/" + args.ClusterName

	vpc, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock: pulumi.String(vpcPrefix.String()), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: tags(args.Name, nil),
	}, parent)
	if err != nil {
		return nil, wrap("vpc", err)
	}
	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{VpcId: vpc.ID(), Tags: tags(args.Name+"-igw", nil)}, parent)
	if err != nil {
		return nil, wrap("internet gateway", err)
	}
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   tags(args.Name+"-public", nil),
	}, parent)
	if err != nil {
		return nil, wrap("public route table", err)
	}

	var publicIDs, privateIDs pulumi.StringArray
	var privateRTs pulumi.StringArray
	nats := make([]*ec2.NatGateway, 0, len(plans))
	natCount := NATGateways(len(plans), args.NATPerZone)
	for i, p := range plans {
		pub, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%s", name, p.Zone), &ec2.SubnetArgs{
			VpcId: vpc.ID(), CidrBlock: pulumi.String(p.Public.String()), AvailabilityZone: pulumi.String(p.Zone),
			// Load balancers get public addresses; instances never do.
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(fmt.Sprintf("%s-public-%s", args.Name, p.Zone), map[string]string{"kubernetes.io/role/elb": "1", cluster: "shared"}),
		}, parent)
		if err != nil {
			return nil, wrap("public subnet", err)
		}
		publicIDs = append(publicIDs, pub.ID())
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%s", name, p.Zone), &ec2.RouteTableAssociationArgs{
			SubnetId: pub.ID(), RouteTableId: publicRT.ID(),
		}, parent); err != nil {
			return nil, wrap("public route association", err)
		}
		if i < natCount {
			eip, err := ec2.NewEip(ctx, fmt.Sprintf("%s-nat-%s", name, p.Zone), &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags(fmt.Sprintf("%s-nat-%s", args.Name, p.Zone), nil)}, parent)
			if err != nil {
				return nil, wrap("nat address", err)
			}
			nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("%s-nat-%s", name, p.Zone), &ec2.NatGatewayArgs{
				AllocationId: eip.ID(), SubnetId: pub.ID(), Tags: tags(fmt.Sprintf("%s-nat-%s", args.Name, p.Zone), nil),
			}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return nil, wrap("nat gateway", err)
			}
			nats = append(nats, nat)
		}
	}
	for i, p := range plans {
		nat := nats[min(i, len(nats)-1)]
		rt, err := ec2.NewRouteTable(ctx, fmt.Sprintf("%s-private-%s", name, p.Zone), &ec2.RouteTableArgs{
			VpcId:  vpc.ID(),
			Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()}},
			Tags:   tags(fmt.Sprintf("%s-private-%s", args.Name, p.Zone), nil),
		}, parent)
		if err != nil {
			return nil, wrap("private route table", err)
		}
		privateRTs = append(privateRTs, rt.ID())
		priv, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%s", name, p.Zone), &ec2.SubnetArgs{
			VpcId: vpc.ID(), CidrBlock: pulumi.String(p.Private.String()), AvailabilityZone: pulumi.String(p.Zone),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(fmt.Sprintf("%s-private-%s", args.Name, p.Zone), map[string]string{"kubernetes.io/role/internal-elb": "1", cluster: "shared"}),
		}, parent)
		if err != nil {
			return nil, wrap("private subnet", err)
		}
		privateIDs = append(privateIDs, priv.ID())
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%s", name, p.Zone), &ec2.RouteTableAssociationArgs{
			SubnetId: priv.ID(), RouteTableId: rt.ID(),
		}, parent); err != nil {
			return nil, wrap("private route association", err)
		}
	}

	// Endpoints: S3 (models, ECR layers) as a gateway, ECR and STS as
	// interfaces reachable on 443 from inside the VPC only.
	if _, err := ec2.NewVpcEndpoint(ctx, name+"-s3", &ec2.VpcEndpointArgs{
		VpcId: vpc.ID(), ServiceName: pulumi.Sprintf("com.amazonaws.%s.s3", args.Region), VpcEndpointType: pulumi.String("Gateway"),
		RouteTableIds: privateRTs, Tags: tags(args.Name+"-s3", nil),
	}, parent); err != nil {
		return nil, wrap("s3 endpoint", err)
	}
	sg, err := ec2.NewSecurityGroup(ctx, name+"-endpoints", &ec2.SecurityGroupArgs{
		VpcId: vpc.ID(), Description: pulumi.String("HTTPS to VPC interface endpoints from inside the VPC"),
		Ingress: ec2.SecurityGroupIngressArray{&ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(443), ToPort: pulumi.Int(443), CidrBlocks: pulumi.ToStringArray([]string{vpcPrefix.String()}),
		}},
		Tags: tags(args.Name+"-endpoints", nil),
	}, parent)
	if err != nil {
		return nil, wrap("endpoint security group", err)
	}
	for _, svc := range []string{"ecr.api", "ecr.dkr", "sts"} {
		if _, err := ec2.NewVpcEndpoint(ctx, name+"-"+svc, &ec2.VpcEndpointArgs{
			VpcId: vpc.ID(), ServiceName: pulumi.Sprintf("com.amazonaws.%s.%s", args.Region, svc), VpcEndpointType: pulumi.String("Interface"),
			SubnetIds: privateIDs, SecurityGroupIds: pulumi.StringArray{sg.ID()}, PrivateDnsEnabled: pulumi.Bool(true),
			Tags: tags(args.Name+"-"+svc, nil),
		}, parent); err != nil {
			return nil, wrap(svc+" endpoint", err)
		}
	}

	// Flow logs of all traffic, to CloudWatch, written by a role that can do
	// only that.
	logArgs := &cloudwatch.LogGroupArgs{
		Name: pulumi.Sprintf("/intelliflow/%s/vpc-flow-logs", args.Name), RetentionInDays: pulumi.Int(args.FlowLogRetentionDays),
		Tags: tags(args.Name+"-flow-logs", nil),
	}
	if args.FlowLogKMSKeyARN != nil {
		logArgs.KmsKeyId = args.FlowLogKMSKeyARN
	}
	logs, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", logArgs, parent)
	if err != nil {
		return nil, wrap("flow log group", err)
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vpc-flow-logs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
		Tags:             tags(args.Name+"-flow-logs", nil),
	}, parent)
	if err != nil {
		return nil, wrap("flow log role", err)
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: logs.Arn.ApplyT(func(arn string) string {
			return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents","logs:DescribeLogStreams"],"Resource":["%s","%s:*"]}]}`, arn, arn)
		}).(pulumi.StringOutput),
	}, parent); err != nil {
		return nil, wrap("flow log policy", err)
	}
	if _, err := ec2.NewFlowLog(ctx, name+"-flow-logs", &ec2.FlowLogArgs{
		VpcId: vpc.ID(), TrafficType: pulumi.String("ALL"), LogDestinationType: pulumi.String("cloud-watch-logs"),
		LogDestination: logs.Arn, IamRoleArn: role.Arn, Tags: tags(args.Name+"-flow-logs", nil),
	}, parent); err != nil {
		return nil, wrap("flow log", err)
	}

	n.VpcID = vpc.ID().ToStringOutput()
	n.PrivateSubnetIDs = privateIDs.ToStringArrayOutput()
	n.PublicSubnetIDs = publicIDs.ToStringArrayOutput()
	n.EndpointSecurityGroupID = sg.ID().ToStringOutput()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId": n.VpcID, "privateSubnetIds": n.PrivateSubnetIDs, "publicSubnetIds": n.PublicSubnetIDs, "endpointSecurityGroupId": n.EndpointSecurityGroupID,
	}); err != nil {
		return nil, wrap("outputs", err)
	}
	return n, nil
}

// ClientAccess is a security group that admits TCP on ports from the given
// private networks only: the managed data stores' front door.
type ClientAccess struct {
	VpcID       pulumi.StringInput
	Description string
	Ports       []int
	CIDRs       []string
}

// Validate refuses public networks and bad ports: a data store is reached
// from inside the VPC only (AWS-10).
func (a ClientAccess) Validate() error {
	var errs []error
	if a.VpcID == nil {
		errs = append(errs, errors.New("VpcID is required"))
	}
	if len(a.CIDRs) == 0 {
		errs = append(errs, errors.New("ClientCIDRs: name the networks that may connect"))
	}
	for i, c := range a.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil || !p.Addr().IsPrivate() {
			errs = append(errs, fmt.Errorf("ClientCIDRs[%d] %q is not a private CIDR", i, c))
		}
	}
	if len(a.Ports) == 0 {
		errs = append(errs, errors.New("Ports: name at least one"))
	}
	for _, p := range a.Ports {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("Ports: %d is not a port", p))
		}
	}
	return errors.Join(errs...)
}

// NewClientAccess creates the security group.
func NewClientAccess(ctx *pulumi.Context, name string, a ClientAccess, opts ...pulumi.ResourceOption) (*ec2.SecurityGroup, error) {
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("security group %q: %w", name, err)
	}
	var in ec2.SecurityGroupIngressArray
	for _, p := range a.Ports {
		in = append(in, &ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(p), ToPort: pulumi.Int(p), CidrBlocks: pulumi.ToStringArray(a.CIDRs),
		})
	}
	return ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId: a.VpcID, Description: pulumi.String(a.Description), Ingress: in,
		Tags: pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")},
	}, opts...)
}
