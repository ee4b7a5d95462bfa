package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// clusterScoped are the kinds that live outside namespaces.
const (
	ingressType     = "kubernetes:networking.k8s.io/v1:Ingress"
	helmReleaseType = "kubernetes:helm.sh/v3:Release"
)

// roleTypes and bindingTypes are the RBAC kinds the access rules examine.
var (
	roleTypes    = []string{"kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"}
	bindingTypes = []string{"kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"}
)

var clusterScoped = []string{
	"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
	"StorageClass", "CSIDriver", "CSINode", "CustomResourceDefinition", "APIService", "IngressClass", "RuntimeClass",
	"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding", "VolumeAttachment", "CertificateSigningRequest", "FlowSchema",
	"PriorityLevelConfiguration", "ConstraintTemplate", "ClusterIssuer",
}

// clusterScopedGroups are API groups whose every kind is cluster-scoped:
// Gatekeeper's constraints.
var clusterScopedGroups = []string{"constraints.gatekeeper.sh"}

// isClusterScoped reports whether objects of a type token live outside
// namespaces.
func isClusterScoped(typ string) bool {
	return slices.Contains(clusterScoped, kindOf(typ)) || slices.Contains(clusterScopedGroups, groupOf(typ))
}

// groupOf is the API group of a type token ("" for core).
func groupOf(typ string) string {
	parts := strings.Split(typ, ":")
	if len(parts) != 3 {
		return ""
	}
	group, _, ok := strings.Cut(parts[1], "/")
	if !ok || group == "core" {
		return ""
	}
	return group
}

// isBuiltinGroup is true for Kubernetes' own API groups: core, the
// dot-less ones (apps, batch, policy, autoscaling) and *.k8s.io.
func isBuiltinGroup(group string) bool {
	return !strings.Contains(group, ".") || strings.HasSuffix(group, ".k8s.io")
}

// isKubernetesObject is true for the provider's object types, not its
// components (helm, yaml, kustomize) or the provider itself.
func isKubernetesObject(typ string) bool {
	if !strings.HasPrefix(typ, "kubernetes:") {
		return false
	}
	for _, p := range []string{"kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize"} {
		if strings.HasPrefix(typ, p) {
			return false
		}
	}
	return !strings.HasSuffix(typ, "List") && !strings.HasSuffix(typ, "Patch")
}

// SEC15Namespace requires namespaced objects to name a namespace other than
// default.
func SEC15Namespace() Rule {
	return Rule{
		Name:        "SEC-15-namespace",
		Description: "SEC-15: namespaced objects set metadata.namespace, never default.",
		Level:       policyx.EnforcementLevelMandatory,
		Check: func(r policyx.AnalyzerResource) []Finding {
			if !isKubernetesObject(r.Type) || isClusterScoped(r.Type) {
				return nil
			}
			ns, ok := at(r.Properties, "metadata", "namespace")
			switch {
			case ok && ns.IsComputed():
				return nil // the namespace component's output: known on update
			case !ok || !ns.IsString() || ns.AsString() == "":
				return []Finding{violation("metadata.namespace: unset, so it lands in whatever namespace the kubeconfig defaults to; set one of the stack's namespaces")}
			case ns.AsString() == "default":
				return []Finding{violation("metadata.namespace: default; use one of the stack's namespaces")}
			}
			return nil
		},
	}
}

// decodeWhole decodes a whole resource of kind (Service, Ingress, ...)
// into into and returns nil, or else the one finding that says why not:
// unchecked while it is not known yet, a violation when it is not a kind.
func decodeWhole(r policyx.AnalyzerResource, into any, kind string) []Finding {
	if unknown, err := decodeKnown(r, into); unknown {
		return []Finding{unchecked("the %s is not known yet", kind)}
	} else if err != nil {
		article := "a"
		if strings.ContainsRune("AEIOU", rune(kind[0])) {
			article = "an"
		}
		return []Finding{violation("does not decode as %s %s: %v", article, kind, err)}
	}
	return nil
}

// decodeKnown decodes a whole resource when it is known.
func decodeKnown(r policyx.AnalyzerResource, into any) (unknown bool, err error) {
	v := at0(r)
	if v.HasComputed() {
		return true, nil
	}
	return false, decode(v, into)
}

// NET02ServiceTypes forbids NodePorts and allows LoadBalancers only for the
// named public services.
func NET02ServiceTypes(loadBalancerServices []string) Rule {
	return Rule{
		Name:        "NET-02-service-types",
		Description: fmt.Sprintf("NET-02: no NodePort; LoadBalancer only for %v.", loadBalancerServices),
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{serviceType},
		Check: func(r policyx.AnalyzerResource) []Finding {
			var svc corev1.Service
			if fs := decodeWhole(r, &svc, "Service"); fs != nil {
				return fs
			}
			switch svc.Spec.Type {
			case corev1.ServiceTypeNodePort:
				return []Finding{violation("spec.type: NodePort opens a port on every node; use ClusterIP behind the ingress")}
			case corev1.ServiceTypeLoadBalancer:
				// Our services carry app; a chart's carry the recommended
				// app.kubernetes.io/name.
				pods := svc.Spec.Selector[appLabel]
				if pods == "" {
					pods = svc.Spec.Selector["app.kubernetes.io/name"]
				}
				if !slices.Contains(loadBalancerServices, pods) {
					return []Finding{violation("spec.type: LoadBalancer for pods %q; only %v may be exposed directly, everything else goes through the gateway", pods, loadBalancerServices)}
				}
			}
			return nil
		},
	}
}

// tlsPolicies are the AWS listener policies that allow nothing below TLS 1.2.
var tlsPolicies = []string{
	"ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
	"ELBSecurityPolicy-FS-1-2-Res-2020-10",
}

// NET03TLS requires TLS on every Ingress host and on load-balancer listeners.
func NET03TLS() Rule {
	return Rule{
		Name:        "NET-03-tls",
		Description: "NET-03: Ingress has TLS for every host; load-balancer listeners TLS >= 1.2.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       []string{ingressType, serviceType},
		Check: func(r policyx.AnalyzerResource) []Finding {
			switch r.Type {
			case ingressType:
				var ing networkingv1.Ingress
				if fs := decodeWhole(r, &ing, "Ingress"); fs != nil {
					return fs
				}
				covered := map[string]bool{}
				for _, t := range ing.Spec.TLS {
					for _, h := range t.Hosts {
						covered[h] = true
					}
				}
				if len(ing.Spec.TLS) == 0 {
					return []Finding{violation("spec.tls: the Ingress serves plain HTTP; add a tls entry with a certificate secret (cert-manager issues it)")}
				}
				var out []Finding
				for i, rule := range ing.Spec.Rules {
					if !covered[rule.Host] {
						out = append(out, violation("spec.rules[%d].host: %q has no TLS entry", i, rule.Host))
					}
				}
				return out
			case serviceType:
				var svc corev1.Service
				if unknown, err := decodeKnown(r, &svc); unknown || err != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
					return nil
				}
				a := svc.Annotations
				var out []Finding
				if a["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == "" {
					out = append(out, violation("metadata.annotations[service.beta.kubernetes.io/aws-load-balancer-ssl-cert]: the listener does not terminate TLS; name an ACM certificate"))
				}
				if p := a["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"]; !slices.Contains(tlsPolicies, p) {
					out = append(out, violation("metadata.annotations[service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy]: %q allows TLS below 1.2 or is unset; use %s", p, tlsPolicies[0]))
				}
				return out
			}
			return nil
		},
	}
}

func roleRules(r policyx.AnalyzerResource) (rules []rbacv1.PolicyRule, findings []Finding, ok bool) {
	if !slices.Contains(roleTypes, r.Type) {
		return nil, nil, false
	}
	v, present := at(r.Properties, "rules")
	if !present {
		return nil, nil, true
	}
	if v.HasComputed() {
		return nil, []Finding{unchecked("rules are not known yet")}, true
	}
	if err := decode(v, &rules); err != nil {
		return nil, []Finding{violation("rules do not decode: %v", err)}, true
	}
	return rules, nil, true
}

// RBAC01NoWildcards forbids "*" in verbs, resources and apiGroups.
func RBAC01NoWildcards() Rule {
	return Rule{
		Name:        "RBAC-01-no-wildcards",
		Description: "RBAC-01: no * in verbs, resources or apiGroups.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       roleTypes,
		Check: func(r policyx.AnalyzerResource) []Finding {
			rules, out, ok := roleRules(r)
			if !ok {
				return nil
			}
			for i, rule := range rules {
				for _, f := range []struct {
					field string
					list  []string
				}{{"verbs", rule.Verbs}, {"resources", rule.Resources}, {"apiGroups", rule.APIGroups}} {
					if slices.Contains(f.list, "*") {
						out = append(out, violation("rules[%d].%s: * grants everything, including what does not exist yet; list what is needed", i, f.field))
					}
				}
			}
			return out
		},
	}
}

// AdminRoleLabel marks roles and bindings for human administrators, which
// RBAC-02 does not hold to the apps' limits.
const AdminRoleLabel = "intelliflow.io/access"

// dangerous are grants that let an app escape its role.
var dangerous = []struct {
	resource string
	verbs    []string
	why      string
}{
	{"secrets", []string{"list", "watch"}, "reads every Secret in scope"},
	{"pods/exec", []string{"create", "get"}, "runs commands in other pods"},
	{"nodes/proxy", []string{"get", "create"}, "reaches the kubelet API"},
}

// RBAC02NoEscalation keeps apps away from cluster-admin and from grants that
// escalate.
func RBAC02NoEscalation() Rule {
	return Rule{
		Name:        "RBAC-02-no-escalation",
		Description: "RBAC-02: no cluster-admin for apps; no secrets list/watch, pods/exec, nodes/proxy, bind, escalate, impersonate.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       append(append([]string{}, roleTypes...), bindingTypes...),
		Check: func(r policyx.AnalyzerResource) []Finding {
			if l, ok := at(r.Properties, "metadata", "labels", AdminRoleLabel); ok && l.IsString() && l.AsString() == "admin" {
				return nil
			}
			switch kindOf(r.Type) {
			case "RoleBinding", "ClusterRoleBinding":
				if ref, ok := at(r.Properties, "roleRef", "name"); ok && ref.IsString() && ref.AsString() == "cluster-admin" {
					return []Finding{violation("roleRef.name: cluster-admin is for administrators (label %s: admin); bind the app to a role with what it needs", AdminRoleLabel)}
				}
				return nil
			}
			rules, out, ok := roleRules(r)
			if !ok {
				return nil
			}
			for i, rule := range rules {
				for _, v := range []string{"bind", "escalate", "impersonate"} {
					if slices.Contains(rule.Verbs, v) {
						out = append(out, violation("rules[%d].verbs: %s lets the holder grant itself more; remove it", i, v))
					}
				}
				for _, d := range dangerous {
					if !slices.Contains(rule.Resources, d.resource) {
						continue
					}
					for _, v := range d.verbs {
						if slices.Contains(rule.Verbs, v) {
							out = append(out, violation("rules[%d]: %s on %s %s; get the one Secret or use Vault instead", i, v, d.resource, d.why))
						}
					}
				}
			}
			return out
		},
	}
}

// K8S01APIVersions forbids bare Pods and alpha, beta or removed versions of
// Kubernetes' own APIs. Custom resources follow their project's versioning
// (Gatekeeper serves its constraints at v1beta1 only).
func K8S01APIVersions() Rule {
	return Rule{
		Name:        "K8S-01-api-versions",
		Description: "K8S-01: no bare Pods; no alpha, beta or removed API versions.",
		Level:       policyx.EnforcementLevelMandatory,
		Check: func(r policyx.AnalyzerResource) []Finding {
			if !isKubernetesObject(r.Type) {
				return nil
			}
			if r.Type == "kubernetes:core/v1:Pod" {
				return []Finding{violation("a bare Pod is not rescheduled when its node fails; use a Deployment, StatefulSet or Job")}
			}
			parts := strings.Split(r.Type, ":")
			if len(parts) == 3 {
				version := parts[1][strings.LastIndex(parts[1], "/")+1:]
				if isBuiltinGroup(groupOf(r.Type)) && (strings.Contains(version, "alpha") || strings.Contains(version, "beta")) {
					return []Finding{violation("apiVersion %s is not GA and may be removed; use the stable version of %s", parts[1], parts[2])}
				}
			}
			return nil
		},
	}
}

// K8S02VisibleCharts reports charts whose objects the pack cannot see.
func K8S02VisibleCharts() Rule {
	return Rule{
		Name:        "K8S-02-visible-charts",
		Description: "K8S-02: charts go through a form whose rendered objects the policy pack sees (helm v4 Chart).",
		Level:       policyx.EnforcementLevelAdvisory,
		Types:       []string{helmReleaseType},
		Check: func(policyx.AnalyzerResource) []Finding {
			return []Finding{violation("a helm Release installs objects the policy pack never sees; use kubernetes:helm.sh/v4:Chart, or name an exception with the reason")}
		},
	}
}
