// Package clusteraddons installs the cluster's own controllers that the
// platform's objects rely on and that no other component installs: the
// NGINX ingress controller (the public Ingress, its custom-headers and
// rate limits mean nothing without it), metrics-server (the HPAs' CPU
// metric, metrics.k8s.io), and on AWS the AWS Load Balancer Controller
// (ingress.loadBalancer's NLB) and the cluster-autoscaler (the node groups
// grow when the HPAs ask for more pods than the nodes hold, up to each
// group's maximum). Each comes from its official chart, pinned, through
// chart.New like every chart of the platform.
package clusteraddons

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/namespace"
)

// Chart pins.
const (
	IngressChartVersion      = "4.15.1"
	MetricsChartVersion      = "3.13.1"
	LoadBalancerChartVersion = "3.5.0"
	AutoscalerChartVersion   = "9.59.0"
)

// SystemNamespace holds the controllers that serve the whole cluster
// (metrics, load balancers, nodes), as on every EKS cluster: their
// system-cluster-critical priority is admitted there.
const SystemNamespace = "kube-system"

// IngressController is the ingress controller pods' app.kubernetes.io/name,
// the one chart workload exposed by a load balancer.
const IngressController = "ingress-nginx"

// Service accounts the AWS controllers' IRSA roles trust.
const (
	LoadBalancerAccount = "aws-load-balancer-controller"
	AutoscalerAccount   = "cluster-autoscaler"
)

// Ports the API server and the load balancers reach.
const (
	ingressWebhookPort = 8443
	metricsPort        = 10250
	// The Load Balancer Controller's webhook.
	loadBalancerWebhookPort = 9443
)

// Args configures the add-ons.
type Args struct {
	// ChartRepository and ImageRegistry are the platform's mirrors.
	ChartRepository, ImageRegistry string
	// IngressNamespace (its name) and IngressNamespaceReady hold the
	// ingress controller.
	IngressNamespace      string
	IngressNamespaceReady pulumi.StringInput
	// Backends are where the ingress controller may send traffic: the
	// namespace and port of each public service.
	Backends []Backend
	// ResponseHeaders are the headers Ingresses may add with the
	// custom-headers annotation (ingress-nginx refuses any other).
	ResponseHeaders []string
	// ControlPlaneCIDRs are where the API server calls the webhooks and
	// the aggregated metrics API from, and where the controllers reach it.
	ControlPlaneCIDRs []string
	// NodeCIDRs are where the kubelets metrics-server scrapes live.
	NodeCIDRs []string
	// Replicas of each controller that can run more than one.
	Replicas int
	// AWS installs the AWS controllers; nil off AWS.
	AWS *AWS
	// TLSIssuer is the cert-manager ClusterIssuer for the ingress
	// controller's admission webhook certificate; IssuerReady orders it.
	TLSIssuer   string
	IssuerReady []pulumi.Resource
}

// Backend is one public service the ingress controller routes to.
type Backend struct {
	Namespace string
	Port      int
}

// AWS is what the AWS controllers need from the foundation.
type AWS struct {
	// ClusterName is the EKS cluster's; the autoscaler discovers the node
	// groups tagged with it.
	ClusterName, Region string
	VpcID               pulumi.StringInput
	// LoadBalancerRole and AutoscalerRole are the IRSA role ARNs for
	// LoadBalancerAccount and AutoscalerAccount.
	LoadBalancerRole, AutoscalerRole pulumi.StringInput
}

var (
	labelRE  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	headerRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if chart.ValidRepository(a.ChartRepository) != nil || a.ImageRegistry == "" {
		bad("ChartRepository %q and ImageRegistry %q are required", a.ChartRepository, a.ImageRegistry)
	}
	if !labelRE.MatchString(a.IngressNamespace) || a.IngressNamespaceReady == nil {
		bad("IngressNamespace %q (a DNS label) and IngressNamespaceReady are required", a.IngressNamespace)
	}
	for _, b := range a.Backends {
		if !labelRE.MatchString(b.Namespace) || b.Port < 1 || b.Port > 65535 {
			bad("Backends: %+v needs a namespace and a port", b)
		}
	}
	for _, h := range a.ResponseHeaders {
		if !headerRE.MatchString(h) {
			bad("ResponseHeaders: %q is not a header name", h)
		}
	}
	if len(a.ControlPlaneCIDRs) == 0 || len(a.NodeCIDRs) == 0 {
		bad("ControlPlaneCIDRs and NodeCIDRs are required")
	}
	if a.Replicas < 2 {
		bad("Replicas %d: the ingress path and the metrics API run at least 2", a.Replicas)
	}
	if a.TLSIssuer == "" {
		bad("TLSIssuer is required (the ingress webhook's certificate)")
	}
	if w := a.AWS; w != nil {
		if !labelRE.MatchString(w.ClusterName) || w.Region == "" || w.VpcID == nil || w.LoadBalancerRole == nil || w.AutoscalerRole == nil {
			bad("AWS: ClusterName %q, Region %q, VpcID and both roles are required", w.ClusterName, w.Region)
		}
	}
	return errors.Join(errs...)
}

// ClusterAddons is the installed add-ons.
type ClusterAddons struct {
	pulumi.ResourceState
}

// New installs the add-ons and the network policies their pods need.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*ClusterAddons, error) {
	if args == nil {
		return nil, fmt.Errorf("cluster add-ons %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("cluster add-ons %q: %w", name, err)
	}
	c := &ClusterAddons{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:ClusterAddons", name, c, opts...); err != nil {
		return nil, fmt.Errorf("cluster add-ons %q: %w", name, err)
	}
	parent := pulumi.Parent(c)
	wrap := func(child string, err error) error { return fmt.Errorf("cluster add-ons %q: %s: %w", name, child, err) }
	install := func(child, chartName, version string, ns pulumi.StringInput, values pulumi.Map, extra ...pulumi.ResourceOption) error {
		_, err := chart.New(ctx, name+"-"+child, chart.Args{
			Chart: chartName, Release: child, Version: version, Namespace: ns, Repository: args.ChartRepository, Values: values,
		}, append([]pulumi.ResourceOption{parent}, extra...)...)
		if err != nil {
			return wrap(child, err)
		}
		return nil
	}
	if err := networkPolicies(ctx, name, args, parent); err != nil {
		return nil, wrap("network policy", err)
	}
	if err := install("ingress-nginx", "ingress-nginx", IngressChartVersion, args.IngressNamespaceReady, args.ingressValues(),
		pulumi.DependsOn(args.IssuerReady)); err != nil {
		return nil, err
	}
	if err := install("metrics-server", "metrics-server", MetricsChartVersion, pulumi.String(SystemNamespace), args.metricsValues()); err != nil {
		return nil, err
	}
	if args.AWS != nil {
		if err := install("aws-load-balancer-controller", "aws-load-balancer-controller", LoadBalancerChartVersion, pulumi.String(SystemNamespace), args.loadBalancerValues()); err != nil {
			return nil, err
		}
		if err := install("cluster-autoscaler", "cluster-autoscaler", AutoscalerChartVersion, pulumi.String(SystemNamespace), args.autoscalerValues()); err != nil {
			return nil, err
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return c, nil
}

// ingressValues: the controller for the platform's Ingresses only (class
// nginx), restricted, its webhook certificate from cert-manager (no
// certgen Jobs), and the response headers our Ingress adds allowed.
func (a *Args) ingressValues() pulumi.Map {
	headers := slices.Sorted(slices.Values(a.ResponseHeaders))
	controller := pulumi.Map{
		"image": pulumi.Map{"registry": pulumi.String(a.ImageRegistry), "digest": pulumi.String(""), "digestChroot": pulumi.String("")},
		"config": pulumi.Map{
			"global-allowed-response-headers": pulumi.String(strings.Join(headers, ",")),
			// Client addresses for the per-client rate limits come from the
			// load balancer's proxy protocol, never from a header a client
			// sets.
			"use-proxy-protocol":    pulumi.String("true"),
			"use-forwarded-headers": pulumi.String("false"),
			"server-tokens":         pulumi.String("false"),
			"ssl-protocols":         pulumi.String("TLSv1.2 TLSv1.3"),
		},
		// An NLB passes TCP 443 through (proxy protocol v2) to the pods'
		// own addresses; nginx terminates TLS with each Ingress's
		// certificate. No plain-HTTP listener: the API is HTTPS only.
		"service": pulumi.Map{
			"enableHttp": pulumi.Bool(false),
			"annotations": pulumi.Map{
				"service.beta.kubernetes.io/aws-load-balancer-type":            pulumi.String("external"),
				"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": pulumi.String("ip"),
				"service.beta.kubernetes.io/aws-load-balancer-scheme":          pulumi.String("internet-facing"),
				"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol":  pulumi.String("*"),
			},
		},
		"replicaCount":                  pulumi.Int(a.Replicas),
		"maxUnavailable":                pulumi.Int(1),
		"unhealthyPodEvictionPolicy":    pulumi.String("AlwaysAllow"),
		"allowSnippetAnnotations":       pulumi.Bool(false),
		"ingressClassResource":          pulumi.Map{"name": pulumi.String("nginx"), "default": pulumi.Bool(false)},
		"watchIngressWithoutClass":      pulumi.Bool(false),
		"podAnnotations":                chart.CallsAPI(),
		"resources":                     chart.Resources("100m", "256Mi"),
		"terminationGracePeriodSeconds": pulumi.Int(60),
		"admissionWebhooks": pulumi.Map{
			"certManager": pulumi.Map{"enabled": pulumi.Bool(true), "issuerRef": pulumi.Map{"name": pulumi.String(a.TLSIssuer), "kind": pulumi.String("ClusterIssuer")}},
			"patch":       pulumi.Map{"enabled": pulumi.Bool(false)},
		},
		"metrics": pulumi.Map{"enabled": pulumi.Bool(true)},
	}
	return pulumi.Map{"controller": controller}
}

// metricsValues: two replicas behind the aggregated metrics API, checked
// by the API server with the cluster's CA (no skipped TLS verification).
func (a *Args) metricsValues() pulumi.Map {
	return pulumi.Map{
		"image":               pulumi.Map{"repository": pulumi.String(a.ImageRegistry + "/metrics-server/metrics-server")},
		"replicas":            pulumi.Int(a.Replicas),
		"podDisruptionBudget": chart.Budget(),
		"podAnnotations":      chart.CallsAPI(),
		"resources":           chart.Resources("100m", "200Mi"),
		"podSecurityContext":  pulumi.Map{"seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")}},
	}
}

// loadBalancerValues: the controller for ingress.loadBalancer's NLB, with
// its IRSA role and the cluster's VPC and region given (it does not ask
// the instance metadata service).
func (a *Args) loadBalancerValues() pulumi.Map {
	w := a.AWS
	return pulumi.Map{
		"clusterName":  pulumi.String(w.ClusterName),
		"region":       pulumi.String(w.Region),
		"vpcId":        w.VpcID,
		"image":        pulumi.Map{"repository": pulumi.String(a.ImageRegistry + "/eks/aws-load-balancer-controller")},
		"replicaCount": pulumi.Int(a.Replicas),
		"serviceAccount": pulumi.Map{
			"name":        pulumi.String(LoadBalancerAccount),
			"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": w.LoadBalancerRole},
		},
		"podDisruptionBudget": pulumi.Map{"maxUnavailable": pulumi.Int(1)},
		"podAnnotations":      chart.CallsAPI(),
		"resources":           chart.Resources("100m", "256Mi"),
		"podSecurityContext":  pulumi.Map{"fsGroup": pulumi.Int(65534), "runAsNonRoot": pulumi.Bool(true), "seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")}},
		"securityContext":     chart.RestrictedContainer(),
		"enableCertManager":   pulumi.Bool(true),
		"webhookBindPort":     pulumi.Int(loadBalancerWebhookPort),
		// It serves Services of type LoadBalancer (the NLBs); the
		// platform's Ingresses are nginx's, so no alb IngressClass.
		"createIngressClassResource": pulumi.Bool(false),
		"ingressClassParams":         pulumi.Map{"create": pulumi.Bool(false)},
	}
}

// autoscalerValues: the cluster-autoscaler for the node groups tagged with
// the cluster's name (EKS tags managed node groups for it), never below or
// above each group's limits, balancing similar groups across zones.
func (a *Args) autoscalerValues() pulumi.Map {
	w := a.AWS
	return pulumi.Map{
		"cloudProvider": pulumi.String("aws"),
		// Two, one leading (it elects a leader), with the chart's budget
		// of one.
		"replicaCount":  pulumi.Int(a.Replicas),
		"awsRegion":     pulumi.String(w.Region),
		"autoDiscovery": pulumi.Map{"clusterName": pulumi.String(w.ClusterName)},
		"image":         pulumi.Map{"repository": pulumi.String(a.ImageRegistry + "/autoscaling/cluster-autoscaler")},
		"rbac": pulumi.Map{"serviceAccount": pulumi.Map{
			"name":        pulumi.String(AutoscalerAccount),
			"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": w.AutoscalerRole},
		}},
		"extraArgs": pulumi.Map{
			"balance-similar-node-groups":   pulumi.Bool(true),
			"skip-nodes-with-system-pods":   pulumi.Bool(false),
			"skip-nodes-with-local-storage": pulumi.Bool(false),
			"expander":                      pulumi.String("least-waste"),
		},
		"podAnnotations":           chart.CallsAPI(),
		"resources":                chart.Resources("100m", "600Mi"),
		"securityContext":          pulumi.Map{"runAsNonRoot": pulumi.Bool(true), "runAsUser": pulumi.Int(65534), "runAsGroup": pulumi.Int(65534), "seccompProfile": pulumi.Map{"type": pulumi.String("RuntimeDefault")}},
		"containerSecurityContext": chart.RestrictedContainer(),
	}
}

// networkPolicies give each add-on's pods a policy of their own.
func networkPolicies(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	control, tcp := namespace.CIDRs(a.ControlPlaneCIDRs...), namespace.TCP
	api := namespace.To(control, tcp(443))
	var backends []*networkingv1.NetworkPolicyEgressRuleArgs
	for _, b := range a.Backends {
		backends = append(backends, namespace.To(namespace.Namespaces(b.Namespace), tcp(b.Port)))
	}
	policies := []namespace.PodPolicy{
		// Clients arrive through the load balancer from anywhere; the API
		// server calls the admission webhook; Prometheus scrapes.
		{Name: "ingress-nginx", Namespace: a.IngressNamespaceReady, Pods: map[string]string{"app.kubernetes.io/name": "ingress-nginx"},
			Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{
				namespace.From(namespace.CIDRs("0.0.0.0/0"), tcp(443)),
				namespace.From(control, tcp(ingressWebhookPort)),
			},
			Egress: append(backends, api)},
		// The API server calls the aggregated metrics API; it scrapes
		// every kubelet.
		{Name: "metrics-server", Namespace: pulumi.String(SystemNamespace), Pods: map[string]string{"app.kubernetes.io/name": "metrics-server"},
			Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(control, tcp(metricsPort))},
			Egress:  []*networkingv1.NetworkPolicyEgressRuleArgs{api, namespace.To(namespace.CIDRs(a.NodeCIDRs...), tcp(metricsPort))}},
	}
	if a.AWS != nil {
		// Both call AWS's regional APIs (public HTTPS) and the cluster's.
		aws := namespace.To(namespace.CIDRs("0.0.0.0/0"), tcp(443))
		policies = append(policies,
			namespace.PodPolicy{Name: "aws-load-balancer-controller", Namespace: pulumi.String(SystemNamespace), Pods: map[string]string{"app.kubernetes.io/name": "aws-load-balancer-controller"},
				Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(control, tcp(loadBalancerWebhookPort))},
				Egress:  []*networkingv1.NetworkPolicyEgressRuleArgs{aws}},
			namespace.PodPolicy{Name: "cluster-autoscaler", Namespace: pulumi.String(SystemNamespace), Pods: map[string]string{"app.kubernetes.io/name": "aws-cluster-autoscaler"},
				Egress: []*networkingv1.NetworkPolicyEgressRuleArgs{aws}},
		)
	}
	for _, p := range policies {
		if _, err := namespace.NewPodPolicy(ctx, name+"-"+p.Name, p, opts...); err != nil {
			return err
		}
	}
	return nil
}
