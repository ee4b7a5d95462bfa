package namespace

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The building blocks of the allow rules components add to a namespace's
// default-deny: ports and peers, spelled once.

// TCP is a list of TCP ports.
func TCP(ports ...int) networkingv1.NetworkPolicyPortArray {
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range ports {
		out = append(out, &networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(p)})
	}
	return out
}

// Namespaces are peers: every pod of the named namespaces.
func Namespaces(names ...string) networkingv1.NetworkPolicyPeerArray {
	var out networkingv1.NetworkPolicyPeerArray
	for _, n := range names {
		out = append(out, &networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{
			MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(n)},
		}})
	}
	return out
}

// PodsIn are peers: the pods with labels in namespace ns.
func PodsIn(ns string, labels map[string]string) networkingv1.NetworkPolicyPeerArray {
	return networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String(ns)}},
		PodSelector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)},
	}}
}

// CIDRs are peers: the named networks.
func CIDRs(cidrs ...string) networkingv1.NetworkPolicyPeerArray {
	var out networkingv1.NetworkPolicyPeerArray
	for _, c := range cidrs {
		out = append(out, &networkingv1.NetworkPolicyPeerArgs{IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(c)}})
	}
	return out
}

// Pods are peers: the pods with labels in the policy's own namespace.
func Pods(labels map[string]string) networkingv1.NetworkPolicyPeerArray {
	return networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
		PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)},
	}}
}

// From admits peers on ports (every port when none).
func From(peers networkingv1.NetworkPolicyPeerArray, ports networkingv1.NetworkPolicyPortArray) *networkingv1.NetworkPolicyIngressRuleArgs {
	return &networkingv1.NetworkPolicyIngressRuleArgs{From: peers, Ports: ports}
}

// To lets the pods reach peers on ports (every port when none).
func To(peers networkingv1.NetworkPolicyPeerArray, ports networkingv1.NetworkPolicyPortArray) *networkingv1.NetworkPolicyEgressRuleArgs {
	return &networkingv1.NetworkPolicyEgressRuleArgs{To: peers, Ports: ports}
}

// PodPolicy opens the namespace's default-deny for one workload's pods:
// the callers it admits and the peers it reaches, nothing else. A policy of
// the workload's own, not a namespace-wide allow, so that each workload's
// reach reads in one place (NET-01).
type PodPolicy struct {
	// Name is the object's name; Namespace orders it after its namespace.
	Name      string
	Namespace pulumi.StringInput
	// Pods are the labels that select the workload's pods; required.
	Pods    map[string]string
	Labels  pulumi.StringMap
	Ingress []*networkingv1.NetworkPolicyIngressRuleArgs
	Egress  []*networkingv1.NetworkPolicyEgressRuleArgs
}

// NewPodPolicy creates p as resource name.
func NewPodPolicy(ctx *pulumi.Context, name string, p PodPolicy, opts ...pulumi.ResourceOption) (*networkingv1.NetworkPolicy, error) {
	if len(p.Pods) == 0 || p.Name == "" || p.Namespace == nil {
		return nil, fmt.Errorf("network policy %q: Name, Namespace and Pods are required", name)
	}
	var in networkingv1.NetworkPolicyIngressRuleArray
	for _, r := range p.Ingress {
		in = append(in, r)
	}
	var out networkingv1.NetworkPolicyEgressRuleArray
	for _, r := range p.Egress {
		out = append(out, r)
	}
	return networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(p.Name), Namespace: p.Namespace, Labels: p.Labels},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(p.Pods)},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     in,
			Egress:      out,
		},
	}, opts...)
}
