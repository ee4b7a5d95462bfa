// Package gpunodegroup provides the NodeGroup component: an EKS managed node
// group launched from a hardened launch template (IMDSv2 with a hop limit of
// 1 so pods cannot reach node credentials, an encrypted root volume, no SSH),
// in private subnets only. GPU groups get the NVIDIA AMI, the nvidia.com/gpu
// taint and the labels the microservice component's GPU affinity selects.
package gpunodegroup

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/microservice"
)

// Scaling bounds a node group.
type Scaling struct{ Min, Desired, Max int }

// Args configures a node group.
type Args struct {
	// ClusterName and NodeRoleARN come from the cluster component.
	ClusterName pulumi.StringInput
	NodeRoleARN pulumi.StringInput
	// PrivateSubnetIDs are where nodes run; never public subnets.
	PrivateSubnetIDs pulumi.StringArrayInput
	// Name is the node group's name and its intelliflow.io/node-group label.
	Name          string
	InstanceTypes []string
	Scaling       Scaling
	// DiskGiB is the root volume size.
	DiskGiB int
	// KMSKeyARN encrypts the root volume; empty uses the account's EBS key.
	KMSKeyARN pulumi.StringInput
	Tags      map[string]string
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(field, format string, v ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, v...)))
	}
	if a.ClusterName == nil || a.NodeRoleARN == nil || a.PrivateSubnetIDs == nil {
		bad("ClusterName/NodeRoleARN/PrivateSubnetIDs", "are required")
	}
	if !nameRE.MatchString(a.Name) || len(a.Name) > 40 {
		bad("Name", "%q is not a short DNS label", a.Name)
	}
	if len(a.InstanceTypes) == 0 {
		bad("InstanceTypes", "name at least one")
	}
	var ami string
	for i, it := range a.InstanceTypes {
		t, err := AMIType(it)
		switch {
		case err != nil:
			bad(fmt.Sprintf("InstanceTypes[%d]", i), "%v", err)
		case ami != "" && t != ami:
			bad(fmt.Sprintf("InstanceTypes[%d]", i), "%s needs AMI %s but %s needs %s; one node group, one AMI", it, t, a.InstanceTypes[0], ami)
		default:
			ami = t
		}
	}
	s := a.Scaling
	if s.Max < 1 || s.Min < 0 || s.Min > s.Desired || s.Desired > s.Max {
		bad("Scaling", "want 0 <= Min <= Desired <= Max and Max >= 1, got %d/%d/%d", s.Min, s.Desired, s.Max)
	}
	if a.DiskGiB < 20 || a.DiskGiB > 2000 {
		bad("DiskGiB", "%d, want 20..2000", a.DiskGiB)
	}
	return errors.Join(errs...)
}

// NodeGroup is a created node group.
type NodeGroup struct {
	pulumi.ResourceState

	// Name is the node group label value pods select.
	Name pulumi.StringOutput `pulumi:"name"`
	// GPU reports whether the group has NVIDIA GPUs.
	GPU bool
}

// GPUPresentLabel marks GPU nodes (the label NVIDIA's tools use); the device
// plugin selects it.
const GPUPresentLabel = "nvidia.com/gpu.present"

// Labels are the Kubernetes labels of the group's nodes.
func Labels(name string, gpu bool) map[string]string {
	l := map[string]string{microservice.NodeGroupLabel: name}
	if gpu {
		l[GPUPresentLabel] = "true"
	}
	return l
}

// New creates a node group.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*NodeGroup, error) {
	if args == nil {
		return nil, fmt.Errorf("node group %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("node group %q: %w", name, err)
	}
	ami, _ := AMIType(args.InstanceTypes[0])
	gpu := IsGPU(args.InstanceTypes[0])
	ng := &NodeGroup{GPU: gpu}
	if err := ctx.RegisterComponentResource("intelliflow:aws:NodeGroup", name, ng, opts...); err != nil {
		return nil, fmt.Errorf("node group %q: %w", name, err)
	}
	parent := pulumi.Parent(ng)
	tags := pulumi.StringMap{"intelliflow.io/node-group": pulumi.String(args.Name)}
	for k, v := range args.Tags {
		tags[k] = pulumi.String(v)
	}
	ebs := &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
		Encrypted: pulumi.String("true"), VolumeSize: pulumi.Int(args.DiskGiB), VolumeType: pulumi.String("gp3"),
		DeleteOnTermination: pulumi.String("true"),
	}
	if args.KMSKeyARN != nil {
		ebs.KmsKeyId = args.KMSKeyARN
	}
	lt, err := ec2.NewLaunchTemplate(ctx, name+"-lt", &ec2.LaunchTemplateArgs{
		Description: pulumi.Sprintf("IntelliFlow %s nodes: IMDSv2, encrypted root, no SSH", args.Name),
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"), Ebs: ebs,
		}},
		UpdateDefaultVersion: pulumi.Bool(true),
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{&ec2.LaunchTemplateTagSpecificationArgs{
			ResourceType: pulumi.String("instance"), Tags: tags,
		}},
		Tags: tags,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("node group %q: launch template: %w", name, err)
	}
	var taints eks.NodeGroupTaintArray
	for _, t := range Taints(gpu) {
		taints = append(taints, &eks.NodeGroupTaintArgs{Key: pulumi.String(t.Key), Value: pulumi.String(t.Value), Effect: pulumi.String(t.Effect)})
	}
	group, err := eks.NewNodeGroup(ctx, name, &eks.NodeGroupArgs{
		ClusterName:   args.ClusterName,
		NodeGroupName: pulumi.String(args.Name),
		NodeRoleArn:   args.NodeRoleARN,
		SubnetIds:     args.PrivateSubnetIDs,
		AmiType:       pulumi.String(ami),
		CapacityType:  pulumi.String("ON_DEMAND"),
		InstanceTypes: pulumi.ToStringArray(args.InstanceTypes),
		ScalingConfig: &eks.NodeGroupScalingConfigArgs{
			MinSize: pulumi.Int(args.Scaling.Min), DesiredSize: pulumi.Int(args.Scaling.Desired), MaxSize: pulumi.Int(args.Scaling.Max),
		},
		LaunchTemplate: &eks.NodeGroupLaunchTemplateArgs{Id: lt.ID(), Version: lt.LatestVersion.ApplyT(func(v int) string { return fmt.Sprint(v) }).(pulumi.StringOutput)},
		Labels:         pulumi.ToStringMap(Labels(args.Name, gpu)),
		Taints:         taints,
		UpdateConfig:   &eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		Tags:           tags,
	}, parent, pulumi.IgnoreChanges([]string{"scalingConfig.desiredSize"})) // the cluster autoscaler owns it
	if err != nil {
		return nil, fmt.Errorf("node group %q: %w", name, err)
	}
	ng.Name = group.NodeGroupName
	if err := ctx.RegisterResourceOutputs(ng, pulumi.Map{"name": ng.Name}); err != nil {
		return nil, fmt.Errorf("node group %q: outputs: %w", name, err)
	}
	return ng, nil
}
