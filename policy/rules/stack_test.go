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

// runStack runs every stack rule and returns the messages by policy.
func runStack(t *testing.T, objs map[string]any) map[string][]string {
	out := map[string][]string{}
	for policy, fs := range runStackRules(t, objs) {
		for _, f := range fs {
			out[policy] = append(out[policy], f.Message)
		}
	}
	return out
}

func runStackRules(t *testing.T, objs map[string]any) map[string][]StackFinding {
	out := map[string][]StackFinding{}
	for _, rule := range AllStack() {
		for _, f := range rule.Check(stackResources(t, objs)) {
			require.False(t, f.Unchecked, f.Message)
			out[rule.Name] = append(out[rule.Name], f)
		}
	}
	return out
}

// stackFixture is one case of the whole-stack rules: the compliant
// namespace with one change, and what the one policy it names must find.
type stackFixture struct {
	policy string
	name   string
	mutate func(objs map[string]any)
	want   []string
	// kind carries the service's Deployment into another workload kind.
	kind string
}

func stackFixtures() []stackFixture {
	return []stackFixture{
		{policy: "NET-01-network-policies", name: "no default deny", mutate: func(o map[string]any) { delete(o, "kubernetes:networking.k8s.io/v1:NetworkPolicy#deny") }, want: []string{"has no default-deny NetworkPolicy"}},
		{policy: "NET-01-network-policies", name: "no DNS", mutate: func(o map[string]any) { delete(o, "kubernetes:networking.k8s.io/v1:NetworkPolicy#dns") }, want: []string{"no policy allowing DNS"}},
		{policy: "NET-01-network-policies", name: "pods not covered", mutate: func(o map[string]any) { delete(o, "kubernetes:networking.k8s.io/v1:NetworkPolicy#app") }, want: []string{"no NetworkPolicy selects its pods"}},
		{policy: "REL-02-disruption-budgets", name: "no PDB", mutate: func(o map[string]any) { delete(o, "kubernetes:policy/v1:PodDisruptionBudget") }, want: []string{"runs 5+ pods but no PodDisruptionBudget"}},
		{policy: "REL-02-disruption-budgets", name: "PDB blocks drains", mutate: func(o map[string]any) {
			pdb := o["kubernetes:policy/v1:PodDisruptionBudget"].(*policyv1.PodDisruptionBudget)
			pdb.Spec.MaxUnavailable = nil
			pdb.Spec.MinAvailable = ptr(intstr.FromInt32(5))
			pdb.Spec.UnhealthyPodEvictionPolicy = nil
		}, want: []string{"minAvailable 5 leaves no pod to evict", "unhealthyPodEvictionPolicy: AlwaysAllow"}},
		{policy: "REL-01-hpa-owns-replicas", name: "replicas under an HPA", mutate: func(o map[string]any) {
			o[deploymentType].(*appsv1.Deployment).Spec.Replicas = ptr(int32(5))
		}, want: []string{"spec.replicas is 5 but HPA transactions owns the count"}},
		{policy: "SEC-14-service-accounts-exist", name: "service account not created", mutate: func(o map[string]any) { delete(o, "kubernetes:core/v1:ServiceAccount") }, want: []string{`uses ServiceAccount "transactions", which this stack does not create`}},
		{policy: "AWS-08-s3-buckets", name: "bucket without its settings", mutate: func(o map[string]any) {
			o[bucketType] = m{"bucket": "intelliflow-prod-models"}
		}, want: []string{`bucket "intelliflow-prod-models" lacks a BucketPublicAccessBlock`}},
		{policy: "AWS-08-s3-buckets", name: "v1 bucket without its settings", mutate: func(o map[string]any) {
			o[bucketV1Type] = m{"bucket": "intelliflow-prod-logs"}
		}, want: []string{`bucket "intelliflow-prod-logs" lacks a BucketPublicAccessBlock`}},
	}
}

// allStackFixtures carries each fixture that changes the service into every
// other workload kind its rule reports on.
func allStackFixtures(t *testing.T) []stackFixture {
	types := map[string][]string{}
	for _, r := range AllStack() {
		types[r.Name] = r.Types
	}
	var out []stackFixture
	for _, f := range stackFixtures() {
		out = append(out, f)
		for _, typ := range types[f.policy] {
			if typ != deploymentType && podSpecPaths[typ] != nil {
				v := f
				v.name, v.kind = f.name+" as "+kindOf(typ), typ
				out = append(out, v)
			}
		}
	}
	return out
}

// runStackFixture builds the fixture's stack and runs every stack rule.
func runStackFixture(t *testing.T, f stackFixture) map[string][]StackFinding {
	objs := stackObjects()
	f.mutate(objs)
	if f.kind != "" {
		d := objs[deploymentType].(*appsv1.Deployment)
		delete(objs, deploymentType)
		objs[f.kind] = inKind(f.kind, d)
		hpa := objs[hpaType].(*autoscalingv2.HorizontalPodAutoscaler)
		hpa.Spec.ScaleTargetRef.Kind = kindOf(f.kind)
	}
	return runStackRules(t, objs)
}

func TestStackRules(t *testing.T) {
	require.Empty(t, runStack(t, stackObjects()), "the complete namespace passes")
	for _, f := range allStackFixtures(t) {
		t.Run(f.policy+"/"+f.name, func(t *testing.T) {
			got := runStackFixture(t, f)
			require.Len(t, got, 1, "only %s reports: %v", f.policy, got)
			var msgs []string
			for _, x := range got[f.policy] {
				msgs = append(msgs, x.Message)
				if f.kind != "" && x.Type != namespaceType {
					require.Equal(t, f.kind, x.Type, x.Message)
				}
			}
			require.Len(t, msgs, len(f.want), "%v", msgs)
			for _, w := range f.want {
				require.True(t, slicesContainSubstring(msgs, w), "%q not in %v", w, msgs)
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
