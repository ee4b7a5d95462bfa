package infra

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/cluster"
	"github.com/intelliflow/platform/components/clusteraddons"
	"github.com/intelliflow/platform/components/ingress"
	"github.com/intelliflow/platform/components/irsa"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/stacks"
)

// addonsFoundation creates the IRSA roles of the AWS controllers: the Load
// Balancer Controller manages only load balancers, target groups and
// security groups it tagged for this cluster; the autoscaler resizes only
// the node groups tagged as this cluster's.
func addonsFoundation(ctx *pulumi.Context, cfg stacks.Config, f *Foundation, eks *cluster.Cluster, opts ...pulumi.ResourceOption) error {
	everywhere := []string{"*"}
	ours := map[string]map[string]string{"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
	elb := func(kind string) string {
		return fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:%s/*", f.Partition, f.Region, f.Account, kind)
	}
	securityGroups := fmt.Sprintf("arn:%s:ec2:%s:%s:security-group/*", f.Partition, f.Region, f.Account)
	lb, err := irsa.New(ctx, "irsa-aws-load-balancer-controller", &irsa.Args{
		OIDCProviderARN: eks.OIDCProviderARN, OIDCIssuer: eks.OIDCIssuer,
		Namespace: clusteraddons.SystemNamespace, ServiceAccount: clusteraddons.LoadBalancerAccount,
		Permissions: []irsa.Statement{
			// Reading what exists has no resource-level permissions in AWS.
			{Actions: []string{
				"ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones", "ec2:DescribeInternetGateways",
				"ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
				"ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeRouteTables",
				"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
				"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerAttributes",
				"elasticloadbalancing:DescribeListenerCertificates", "elasticloadbalancing:DescribeSSLPolicies",
				"elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetGroups",
				"elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetHealth",
				"elasticloadbalancing:DescribeTags", "acm:ListCertificates", "acm:DescribeCertificate",
			}, Resources: everywhere},
			{Actions: []string{"iam:CreateServiceLinkedRole"}, Resources: everywhere,
				Condition: map[string]map[string]string{"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
			// Security groups for the load balancers: created in the VPC,
			// tagged as they are created, changed only when tagged ours.
			{Actions: []string{"ec2:CreateSecurityGroup"}, Resources: []string{securityGroups, fmt.Sprintf("arn:%s:ec2:%s:%s:vpc/*", f.Partition, f.Region, f.Account)}},
			{Actions: []string{"ec2:CreateTags"}, Resources: []string{securityGroups},
				Condition: map[string]map[string]string{"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}},
			{Actions: []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup", "ec2:CreateTags", "ec2:DeleteTags"},
				Resources: []string{securityGroups}, Condition: ours},
			// Load balancers and target groups: created only with the
			// cluster's tag, then changed only when they carry it.
			{Actions: []string{"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags"},
				Resources: []string{elb("loadbalancer/net"), elb("loadbalancer/app"), elb("targetgroup")},
				Condition: map[string]map[string]string{"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}},
			{Actions: []string{
				"elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType", "elasticloadbalancing:SetSecurityGroups",
				"elasticloadbalancing:SetSubnets", "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
				"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:RemoveTags",
				"elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener", "elasticloadbalancing:ModifyListener",
				"elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
			}, Resources: []string{elb("loadbalancer/net"), elb("loadbalancer/app"), elb("targetgroup"), elb("listener/net"), elb("listener/app")}, Condition: ours},
			{Actions: []string{"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"}, Resources: []string{elb("targetgroup")}},
		},
	}, opts...)
	if err != nil {
		return err
	}
	f.LoadBalancerRole = lb.ARN
	autoscaler, err := irsa.New(ctx, "irsa-cluster-autoscaler", &irsa.Args{
		OIDCProviderARN: eks.OIDCProviderARN, OIDCIssuer: eks.OIDCIssuer,
		Namespace: clusteraddons.SystemNamespace, ServiceAccount: clusteraddons.AutoscalerAccount,
		Permissions: []irsa.Statement{
			{Actions: []string{
				"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLaunchConfigurations",
				"autoscaling:DescribeScalingActivities", "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
				"ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements", "eks:DescribeNodegroup",
			}, Resources: everywhere},
			// Resizing only the groups EKS tagged as this cluster's.
			{Actions: []string{"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"},
				Resources: []string{fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:*", f.Partition, f.Region, f.Account)},
				Condition: map[string]map[string]string{"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/" + cfg.ClusterName(): "owned"}}},
		},
	}, opts...)
	if err != nil {
		return err
	}
	f.AutoscalerRole = autoscaler.ARN
	return nil
}

// deployAddons installs the cluster's add-ons wherever the platform's
// charts go: the ingress controller and metrics-server everywhere, the AWS
// controllers with the foundation.
func deployAddons(ctx *pulumi.Context, cfg stacks.Config, f *Foundation, namespaces map[string]*namespace.Namespace, is issuers, opts ...pulumi.ResourceOption) error {
	if !cfg.Charts {
		return nil
	}
	var backends []clusteraddons.Backend
	for _, svc := range catalog.All() {
		if svc.Public {
			backends = append(backends, clusteraddons.Backend{Namespace: cfg.Environment.AppNamespace(), Port: svc.Port})
		}
	}
	issuer := internalIssuer(cfg)
	args := &clusteraddons.Args{
		ChartRepository: cfg.ChartRepository, ImageRegistry: cfg.ImageRegistries[0],
		IngressNamespace: stacks.IngressNamespace, IngressNamespaceReady: namespaces[stacks.IngressNamespace].Name,
		Backends: backends, ResponseHeaders: slices.Sorted(maps.Keys(ingress.SecurityHeaders)),
		ControlPlaneCIDRs: clusterNetworks(cfg), NodeCIDRs: clusterNetworks(cfg),
		Replicas: controllerReplicas(cfg), TLSIssuer: issuer, IssuerReady: is.waitFor(issuer),
	}
	if f != nil {
		args.AWS = &clusteraddons.AWS{
			ClusterName: cfg.ClusterName(), Region: f.Region, VpcID: f.VpcID,
			LoadBalancerRole: f.LoadBalancerRole, AutoscalerRole: f.AutoscalerRole,
		}
	}
	_, err := clusteraddons.New(ctx, "addons", args, opts...)
	return err
}
