package rules

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const ns = "intelliflow-prod"

// stackObjects is a complete, compliant namespace with one service.
func stackObjects() map[string]any {
	app := map[string]string{appLabel: "transactions"}
	return map[string]any{
		"kubernetes:core/v1:Namespace": &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		"kubernetes:networking.k8s.io/v1:NetworkPolicy#deny": &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: ns},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}},
		},
		"kubernetes:networking.k8s.io/v1:NetworkPolicy#dns": &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-dns", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Egress"}, Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(53))}},
			}}},
		},
		"kubernetes:networking.k8s.io/v1:NetworkPolicy#app": &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: ns},
			Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: app}, PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}},
		},
		"kubernetes:core/v1:ServiceAccount": &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: ns}},
		deploymentType:                      deploymentWith(func(d *appsv1.Deployment) { d.Namespace = ns }),
		hpaType: &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "transactions", APIVersion: "apps/v1"},
				MinReplicas:    ptr(int32(5)), MaxReplicas: 50,
			},
		},
		"kubernetes:policy/v1:PodDisruptionBudget": &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: app}, MaxUnavailable: ptr(intstr.FromInt32(1)),
				UnhealthyPodEvictionPolicy: ptr(policyv1.AlwaysAllow),
			},
		},
	}
}

func stackResources(t *testing.T, objs map[string]any) []policyx.AnalyzerResource {
	var out []policyx.AnalyzerResource
	for key, obj := range objs {
		typ, name, _ := strings.Cut(key, "#")
		r := asResource(t, typ, obj)
		r.Name, r.URN = key, "urn:"+key
		if name == "" {
			r.Name = kindOf(typ)
		}
		out = append(out, r)
	}
	return out
}

func runStack(t *testing.T, objs map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, rule := range AllStack() {
		for _, f := range rule.Check(stackResources(t, objs)) {
			require.False(t, f.Unchecked, f.Message)
			out[rule.Name] = append(out[rule.Name], f.Message)
		}
	}
	return out
}

func TestStackRules(t *testing.T) {
	require.Empty(t, runStack(t, stackObjects()), "the complete namespace passes")

	tests := []struct {
		name   string
		mutate func(objs map[string]any)
		rule   string
		want   []string
	}{
		{"no default deny", func(o map[string]any) { delete(o, "kubernetes:networking.k8s.io/v1:NetworkPolicy#deny") }, "NET-01-network-policies", []string{"has no default-deny NetworkPolicy"}},
		{"no DNS", func(o map[string]any) { delete(o, "kubernetes:networking.k8s.io/v1:NetworkPolicy#dns") }, "NET-01-network-policies", []string{"no policy allowing DNS"}},
		{"pods not covered", func(o map[string]any) { delete(o, "kubernetes:networking.k8s.io/v1:NetworkPolicy#app") }, "NET-01-network-policies", []string{"no NetworkPolicy selects its pods"}},
		{"no PDB", func(o map[string]any) { delete(o, "kubernetes:policy/v1:PodDisruptionBudget") }, "REL-02-disruption-budgets", []string{"runs 5+ pods but no PodDisruptionBudget"}},
		{"PDB blocks drains", func(o map[string]any) {
			pdb := o["kubernetes:policy/v1:PodDisruptionBudget"].(*policyv1.PodDisruptionBudget)
			pdb.Spec.MaxUnavailable = nil
			pdb.Spec.MinAvailable = ptr(intstr.FromInt32(5))
			pdb.Spec.UnhealthyPodEvictionPolicy = nil
		}, "REL-02-disruption-budgets", []string{"minAvailable 5 leaves no pod to evict", "unhealthyPodEvictionPolicy: AlwaysAllow"}},
		{"replicas under an HPA", func(o map[string]any) {
			o[deploymentType].(*appsv1.Deployment).Spec.Replicas = ptr(int32(5))
		}, "REL-01-hpa-owns-replicas", []string{"spec.replicas is 5 but HPA transactions owns the count"}},
		{"service account not created", func(o map[string]any) { delete(o, "kubernetes:core/v1:ServiceAccount") }, "SEC-14-service-accounts-exist", []string{`uses ServiceAccount "transactions", which this stack does not create`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := stackObjects()
			tt.mutate(objs)
			got := runStack(t, objs)
			require.Len(t, got, 1, "%v", got)
			require.Len(t, got[tt.rule], len(tt.want), "%v", got)
			for _, w := range tt.want {
				require.True(t, slicesContainSubstring(got[tt.rule], w), "%q not in %v", w, got[tt.rule])
			}
		})
	}
}

// TestLiveReplicasAreTheServers: after an update into a cluster the stack
// check sees live objects, whose spec.replicas the API server and the HPA
// set; only the program's inputs (no uid) are held to REL-01.
func TestLiveReplicasAreTheServers(t *testing.T) {
	objs := stackObjects()
	d := objs[deploymentType].(*appsv1.Deployment)
	d.Spec.Replicas = ptr(int32(3))
	require.Contains(t, runStack(t, objs), "REL-01-hpa-owns-replicas", "the program setting replicas is refused")
	d.UID = "3f1c2a9e-live"
	require.Empty(t, runStack(t, objs), "the live object's replicas are the cluster's")
}

func TestStackRulesSkipUnknownResources(t *testing.T) {
	rs := stackResources(t, stackObjects())
	for i := range rs {
		if rs[i].Type == deploymentType {
			rs[i] = withUnknown(rs[i], "spec", "template")
		}
	}
	for _, rule := range AllStack() {
		for _, f := range rule.Check(rs) {
			require.True(t, f.Unchecked, "%s: %s", rule.Name, f.Message)
		}
	}
}
