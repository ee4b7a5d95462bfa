package namespace

import (
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
