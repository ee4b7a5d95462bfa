package rules

import (
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// StackFinding is a finding about one resource, found by looking at all.
type StackFinding struct {
	Finding
	// URN and Name of the resource the finding is about.
	URN, Name, Type string
}

// StackRule is a rule that needs the whole stack: relations between
// resources (a PDB for a Deployment, a policy covering a pod).
type StackRule struct {
	Name        string
	Description string
	Level       policyx.EnforcementLevel
	// Types are the resource types its findings can be about; the fixture
	// guard wants a failing case for each.
	Types []string
	Check func(resources []policyx.AnalyzerResource) []StackFinding
}

// stackView indexes the stack's known Kubernetes objects.
type stackView struct {
	workloads  []workloadView
	namespaces map[string]policyx.AnalyzerResource
	policies   map[string][]networkingv1.NetworkPolicy // by namespace
	pdbs       map[string][]policyv1.PodDisruptionBudget
	hpas       map[string][]autoscalingv2.HorizontalPodAutoscaler
	accounts   map[string]bool // namespace/name
	unknown    []StackFinding
}

type workloadView struct {
	r         policyx.AnalyzerResource
	namespace string
	name      string
	p         pod
	replicas  *int32
}

func newStackView(resources []policyx.AnalyzerResource) stackView {
	v := stackView{
		namespaces: map[string]policyx.AnalyzerResource{},
		policies:   map[string][]networkingv1.NetworkPolicy{},
		pdbs:       map[string][]policyv1.PodDisruptionBudget{},
		hpas:       map[string][]autoscalingv2.HorizontalPodAutoscaler{},
		accounts:   map[string]bool{},
	}
	for _, r := range resources {
		if at0(r).HasComputed() {
			if _, isWorkload := podSpecPaths[r.Type]; isWorkload || slices.Contains([]string{
				"kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:policy/v1:PodDisruptionBudget", hpaType,
			}, r.Type) {
				v.unknown = append(v.unknown, StackFinding{Finding: unchecked("not known yet, so left out of whole-stack checks"), URN: r.URN, Name: r.Name, Type: r.Type})
			}
			continue
		}
		switch r.Type {
		case "kubernetes:core/v1:Namespace":
			if n, ok := at(r.Properties, "metadata", "name"); ok && n.IsString() {
				v.namespaces[n.AsString()] = r
			}
		case "kubernetes:networking.k8s.io/v1:NetworkPolicy":
			var np networkingv1.NetworkPolicy
			if decode(at0(r), &np) == nil {
				v.policies[np.Namespace] = append(v.policies[np.Namespace], np)
			}
		case "kubernetes:policy/v1:PodDisruptionBudget":
			var pdb policyv1.PodDisruptionBudget
			if decode(at0(r), &pdb) == nil {
				v.pdbs[pdb.Namespace] = append(v.pdbs[pdb.Namespace], pdb)
			}
		case hpaType:
			var h autoscalingv2.HorizontalPodAutoscaler
			if decode(at0(r), &h) == nil {
				v.hpas[h.Namespace] = append(v.hpas[h.Namespace], h)
			}
		case "kubernetes:core/v1:ServiceAccount":
			var m struct{ Metadata metav1.ObjectMeta }
			if decode(at0(r), &m) == nil {
				v.accounts[m.Metadata.Namespace+"/"+m.Metadata.Name] = true
			}
		}
		if _, ok := podSpecPaths[r.Type]; ok {
			var obj struct {
				Metadata metav1.ObjectMeta
				Spec     struct{ Replicas *int32 }
			}
			if decode(at0(r), &obj) != nil {
				continue
			}
			replicas := obj.Spec.Replicas
			if obj.Metadata.UID != "" {
				// A live object (the stack check after an update into a
				// cluster): the API server defaulted spec.replicas and the
				// HPA moves it; neither is the program's. The program's own
				// inputs were checked per resource.
				replicas = nil
			}
			withPod(r, func(p pod) []Finding {
				v.workloads = append(v.workloads, workloadView{r: r, namespace: obj.Metadata.Namespace, name: obj.Metadata.Name, p: p, replicas: replicas})
				return nil
			})
		}
	}
	return v
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(podLabels))
}

func (w workloadView) finding(f Finding) StackFinding {
	return StackFinding{Finding: f, URN: w.r.URN, Name: w.r.Name, Type: w.r.Type}
}

// isDefaultDeny is a policy that selects every pod and allows nothing.
func isDefaultDeny(np networkingv1.NetworkPolicy) bool {
	types := np.Spec.PolicyTypes
	return len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
		slices.Contains(types, networkingv1.PolicyTypeIngress) && slices.Contains(types, networkingv1.PolicyTypeEgress) &&
		len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0
}

// allowsDNS is a policy that lets every pod reach port 53.
func allowsDNS(np networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PodSelector.MatchLabels) != 0 || len(np.Spec.PodSelector.MatchExpressions) != 0 {
		return false
	}
	for _, e := range np.Spec.Egress {
		for _, p := range e.Ports {
			if p.Port != nil && p.Port.IntValue() == 53 {
				return true
			}
		}
	}
	return false
}

// NET01NetworkPolicies: every namespace default-denies with DNS allowed, and
// every workload's pods are selected by a policy of their own.
func NET01NetworkPolicies() StackRule {
	return StackRule{
		Name:        "NET-01-network-policies",
		Description: "NET-01: every namespace default-deny for ingress and egress with DNS allowed; every pod selected by a NetworkPolicy.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       append([]string{namespaceType}, workloadTypes...),
		Check: func(resources []policyx.AnalyzerResource) []StackFinding {
			v := newStackView(resources)
			out := append([]StackFinding(nil), v.unknown...)
			for _, name := range slices.Sorted(maps.Keys(v.namespaces)) {
				r := v.namespaces[name]
				deny, dns := false, false
				for _, np := range v.policies[name] {
					deny = deny || isDefaultDeny(np)
					dns = dns || allowsDNS(np)
				}
				if !deny {
					out = append(out, StackFinding{Finding: violation("namespace %s has no default-deny NetworkPolicy (empty podSelector, policyTypes Ingress and Egress, no rules); the namespace component creates one", name), URN: r.URN, Name: r.Name, Type: r.Type})
				}
				if !dns {
					out = append(out, StackFinding{Finding: violation("namespace %s has no policy allowing DNS (egress to port 53); pods will not resolve names", name), URN: r.URN, Name: r.Name, Type: r.Type})
				}
			}
			for _, w := range v.workloads {
				covered := false
				for _, np := range v.policies[w.namespace] {
					if len(np.Spec.PodSelector.MatchLabels) > 0 && selects(&np.Spec.PodSelector, w.p.tmpl.Labels) {
						covered = true
					}
				}
				if !covered {
					out = append(out, w.finding(violation("%s/%s: no NetworkPolicy selects its pods (labels %v); give it one that admits its callers and reaches its peers", w.namespace, w.name, w.p.tmpl.Labels)))
				}
			}
			return out
		},
	}
}

// REL02DisruptionBudgets: every workload that runs two or more pods has a
// PDB that lets a drain proceed and evicts unhealthy pods.
func REL02DisruptionBudgets() StackRule {
	return StackRule{
		Name:        "REL-02-disruption-budgets",
		Description: "REL-02: a PodDisruptionBudget for every multi-replica workload, compatible with HPA minReplicas, unhealthyPodEvictionPolicy AlwaysAllow.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       budgetTypes,
		Check: func(resources []policyx.AnalyzerResource) []StackFinding {
			v := newStackView(resources)
			out := append([]StackFinding(nil), v.unknown...)
			for _, w := range v.workloads {
				if !slices.Contains(budgetTypes, w.r.Type) {
					continue
				}
				minReplicas := int32(1)
				if w.replicas != nil {
					minReplicas = *w.replicas
				}
				for _, h := range v.hpas[w.namespace] {
					if h.Spec.ScaleTargetRef.Name == w.name && h.Spec.MinReplicas != nil {
						minReplicas = *h.Spec.MinReplicas
					}
				}
				if minReplicas < 2 {
					continue
				}
				var budget *policyv1.PodDisruptionBudget
				for i, pdb := range v.pdbs[w.namespace] {
					if selects(pdb.Spec.Selector, w.p.tmpl.Labels) {
						budget = &v.pdbs[w.namespace][i]
					}
				}
				if budget == nil {
					out = append(out, w.finding(violation("%s/%s runs %d+ pods but no PodDisruptionBudget selects them; add one with maxUnavailable: 1", w.namespace, w.name, minReplicas)))
					continue
				}
				if m := budget.Spec.MinAvailable; m != nil && m.IntValue() >= int(minReplicas) && m.Type == 0 {
					out = append(out, w.finding(violation("%s/%s: PDB %s minAvailable %d leaves no pod to evict at %d replicas; a node drain would hang. Use maxUnavailable: 1", w.namespace, w.name, budget.Name, m.IntValue(), minReplicas)))
				}
				if m := budget.Spec.MaxUnavailable; m != nil && m.IntValue() == 0 {
					out = append(out, w.finding(violation("%s/%s: PDB %s maxUnavailable 0 blocks every drain; use 1", w.namespace, w.name, budget.Name)))
				}
				if p := budget.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != policyv1.AlwaysAllow {
					out = append(out, w.finding(violation("%s/%s: PDB %s needs unhealthyPodEvictionPolicy: AlwaysAllow, or crash-looping pods block drains", w.namespace, w.name, budget.Name)))
				}
			}
			return out
		},
	}
}

// budgetTypes are the workloads whose replicas a PDB guards; a DaemonSet's
// pods are drained with their node, one per node, and need none.
var budgetTypes = []string{deploymentType, "kubernetes:apps/v1:ReplicaSet", statefulSetType}

// scalableTypes are the workloads with spec.replicas that an HPA can scale.
var scalableTypes = []string{deploymentType, "kubernetes:apps/v1:ReplicaSet", statefulSetType, "kubernetes:core/v1:ReplicationController"}

// REL01HPAOwnsReplicas: a workload an HPA scales leaves spec.replicas unset,
// or every update resets the HPA's count.
func REL01HPAOwnsReplicas() StackRule {
	return StackRule{
		Name:        "REL-01-hpa-owns-replicas",
		Description: "REL-01: spec.replicas left unset when an HPA owns it.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       scalableTypes,
		Check: func(resources []policyx.AnalyzerResource) []StackFinding {
			v := newStackView(resources)
			var out []StackFinding
			for _, w := range v.workloads {
				if !slices.Contains(scalableTypes, w.r.Type) {
					continue
				}
				for _, h := range v.hpas[w.namespace] {
					if h.Spec.ScaleTargetRef.Name == w.name && h.Spec.ScaleTargetRef.Kind == kindOf(w.r.Type) && w.replicas != nil {
						out = append(out, w.finding(violation("%s/%s: spec.replicas is %d but HPA %s owns the count; every update would reset it. Leave spec.replicas unset", w.namespace, w.name, *w.replicas, h.Name)))
					}
				}
			}
			return out
		},
	}
}

// SEC14AccountsExist: the service account a workload names is one the stack
// creates, so its permissions are reviewed with the stack.
func SEC14AccountsExist() StackRule {
	return StackRule{
		Name:        "SEC-14-service-accounts-exist",
		Description: "SEC-14: every workload's ServiceAccount is created by the stack.",
		Level:       policyx.EnforcementLevelMandatory,
		Types:       workloadTypes,
		Check: func(resources []policyx.AnalyzerResource) []StackFinding {
			v := newStackView(resources)
			var out []StackFinding
			for _, w := range v.workloads {
				sa := w.p.tmpl.Spec.ServiceAccountName
				if sa != "" && sa != "default" && !v.accounts[w.namespace+"/"+sa] {
					out = append(out, w.finding(violation("%s/%s uses ServiceAccount %q, which this stack does not create", w.namespace, w.name, sa)))
				}
			}
			return out
		},
	}
}
