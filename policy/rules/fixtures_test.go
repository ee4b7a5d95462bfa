package rules

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

// goodDeployment passes every rule; each failing fixture breaks one thing.
func goodDeployment() *appsv1.Deployment {
	labels := map[string]string{appLabel: "transactions"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "transactions", Namespace: "intelliflow-prod"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(0))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:            "transactions",
					AutomountServiceAccountToken:  ptr(false),
					TerminationGracePeriodSeconds: ptr(int64(30)),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(10001)), RunAsGroup: ptr(int64(10001)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{
						{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway},
						{MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway},
					},
					Containers: []corev1.Container{{
						Name:  "transactions",
						Image: "registry.intelliflow.internal/intelliflow/transactions:1.0.0",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{"cpu": k8sresource.MustParse("500m"), "memory": k8sresource.MustParse("1Gi"), "ephemeral-storage": k8sresource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{"cpu": k8sresource.MustParse("2"), "memory": k8sresource.MustParse("2Gi"), "ephemeral-storage": k8sresource.MustParse("512Mi")},
						},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/livez", Port: intstr.FromString("http")}}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}},
						StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/livez", Port: intstr.FromString("http")}}},
						Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true), RunAsNonRoot: ptr(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

func c0(d *appsv1.Deployment) *corev1.Container { return &d.Spec.Template.Spec.Containers[0] }

// asResource turns a Kubernetes object into what the analyzer receives.
func asResource(t *testing.T, typ string, obj any) policyx.AnalyzerResource {
	t.Helper()
	b, err := json.Marshal(obj)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return policyx.AnalyzerResource{Type: typ, Name: "fixture", Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(m))}
}

func deploymentWith(mutate func(d *appsv1.Deployment)) any {
	d := goodDeployment()
	mutate(d)
	return d
}

type fixture struct {
	rule string // policy name prefix: the rule id
	name string
	typ  string
	obj  any
	want []string // substrings, one per expected finding; nil: must pass
}

func fixtures() []fixture {
	const dep = deploymentType
	return []fixture{
		{"SEC-02", "privileged", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).SecurityContext.Privileged = ptr(true) }), []string{"securityContext.privileged"}},
		{"SEC-03", "escalation allowed", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).SecurityContext.AllowPrivilegeEscalation = nil }), []string{"allowPrivilegeEscalation: container \"transactions\" must set it to false"}},
		{"SEC-04", "root", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.SecurityContext.RunAsUser = ptr(int64(0))
			c0(d).SecurityContext.RunAsNonRoot = ptr(false)
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = ptr(false)
		}), []string{"must run as non-root", "runs as UID 0"}},
		{"SEC-05", "low uid", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.SecurityContext.RunAsUser = ptr(int64(1000)) }), []string{"UID of 10000 or more"}},
		{"SEC-06", "capabilities", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}
		}), []string{"must drop ALL", "adds NET_ADMIN"}},
		{"SEC-07", "no seccomp", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.SecurityContext.SeccompProfile = nil }), []string{"needs type RuntimeDefault"}},
		{"SEC-08", "writable root", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).SecurityContext.ReadOnlyRootFilesystem = ptr(false) }), []string{"readOnlyRootFilesystem"}},
		{"SEC-09", "host network and pid", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.HostNetwork = true
			d.Spec.Template.Spec.HostPID = true
		}), []string{"hostNetwork", "hostPID"}},
		{"SEC-10", "hostPath", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}), []string{`volume "host"`}},
		{"SEC-10", "emptyDir is fine", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}), nil},
		{"SEC-11", "hostPort", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).Ports[0].HostPort = 8080 }), []string{"binds node port 8080"}},
		{"SEC-12", "unsafe sysctl", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}
		}), []string{"kernel.msgmax is not a safe sysctl"}},
		{"SEC-13", "token mounted", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.AutomountServiceAccountToken = nil }), []string{"automountServiceAccountToken: must be false"}},
		{"SEC-13", "API caller says so", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.AutomountServiceAccountToken = ptr(true)
			d.Spec.Template.Annotations = map[string]string{KubernetesAPIAnnotation: "true"}
		}), nil},
		{"SEC-14", "default account", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.ServiceAccountName = "default" }), []string{`serviceAccountName: "default"`}},
		{"SEC-15", "default namespace", dep, deploymentWith(func(d *appsv1.Deployment) { d.Namespace = "default" }), []string{"metadata.namespace: default"}},
		{"SEC-15", "no namespace", dep, deploymentWith(func(d *appsv1.Deployment) { d.Namespace = "" }), []string{"metadata.namespace: unset"}},
		{"SEC-15", "cluster-scoped kinds need none", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, nil},
		{"SEC-19", "literal password", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}, {Name: "PASSWORD_MIN_LENGTH", Value: "12"}}
		}), []string{"sets DB_PASSWORD to a literal value"}},
		{"SEC-19", "secret in a ConfigMap", "kubernetes:core/v1:ConfigMap", &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "intelliflow-dev"}, Data: map[string]string{"API_KEY": "x", "LOG_LEVEL": "info"},
		}, []string{`data["API_KEY"]`}},
		{"SEC-20", "no requests", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).Resources = corev1.ResourceRequirements{} }), []string{"requests.cpu", "requests.memory", "limits.memory"}},
		{"SEC-21", "no ephemeral storage", dep, deploymentWith(func(d *appsv1.Deployment) {
			delete(c0(d).Resources.Requests, "ephemeral-storage")
		}), []string{"ephemeral-storage"}},
		{"REL-01", "one replica", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(1)) }), []string{"spec.replicas: 1"}},
		{"REL-01", "three replicas", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(3)) }), nil},
		{"REL-03", "no spread", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.TopologySpreadConstraints = nil }), []string{"across zones", "across hosts"}},
		{"REL-03", "required anti-affinity counts for hosts", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.TopologySpreadConstraints = d.Spec.Template.Spec.TopologySpreadConstraints[:1]
			d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: corev1.LabelHostname}}}}
		}), nil},
		{"REL-04", "same probes, no readiness", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).LivenessProbe = c0(d).ReadinessProbe
		}), []string{"same endpoint for liveness and readiness"}},
		{"REL-04", "no readiness", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).ReadinessProbe = nil }), []string{"no readiness probe"}},
		{"REL-04-startup", "no startup probe", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).StartupProbe = nil }), []string{"without a startup probe"}},
		{"REL-05", "no preStop, surge down", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).Lifecycle = nil
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("25%"))
		}), []string{"no pre-stop delay", "maxUnavailable: 25%"}},
		{"REL-05", "grace shorter than preStop", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(5)) }), []string{"not longer than the 5s pre-stop sleep"}},
		{"REL-05", "recreate", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}), []string{"Recreate"}},
		{"REL-06", "hpa without behavior, min 1", hpaType, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "intelliflow-dev"},
			Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr(int32(1)), MaxReplicas: 1},
		}, []string{"minReplicas: must be 2", "maxReplicas: 1 must be greater", "spec.behavior"}},
		{"REL-06", "good hpa", hpaType, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "intelliflow-dev"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr(int32(2)), MaxReplicas: 5, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{}, ScaleDown: &autoscalingv2.HPAScalingRules{},
			}},
		}, nil},
		{"NET-02", "node port", "kubernetes:core/v1:Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "intelliflow-dev"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}, []string{"NodePort"}},
		{"NET-02", "load balancer for users", "kubernetes:core/v1:Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "intelliflow-dev"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{appLabel: "users"}}}, []string{`LoadBalancer for pods "users"`}},
		{"NET-03", "ingress without tls", "kubernetes:networking.k8s.io/v1:Ingress", &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "intelliflow-dev"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "api.example.com"}}},
		}, []string{"serves plain HTTP"}},
		{"NET-03", "host without tls", "kubernetes:networking.k8s.io/v1:Ingress", &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "intelliflow-dev"},
			Spec:       networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}}}, Rules: []networkingv1.IngressRule{{Host: "api.example.com"}, {Host: "admin.example.com"}}},
		}, []string{`"admin.example.com" has no TLS entry`}},
		{"NET-03", "lb with old TLS", "kubernetes:core/v1:Service", &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "intelliflow-dev", Annotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-2016-08"}},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{appLabel: "gateway"}},
		}, []string{"does not terminate TLS", `"ELBSecurityPolicy-2016-08" allows TLS below 1.2`}},
		{"RBAC-01", "wildcards", "kubernetes:rbac.authorization.k8s.io/v1:Role", &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "intelliflow-dev"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
		}, []string{"rules[0].verbs", "rules[0].resources", "rules[0].apiGroups"}},
		{"RBAC-01", "narrow role", "kubernetes:rbac.authorization.k8s.io/v1:Role", &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "intelliflow-dev"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
		}, nil},
		{"RBAC-02", "escalating role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "pods/exec"}, Verbs: []string{"list", "create", "impersonate"}}},
		}, []string{"impersonate", "list on secrets", "create on pods/exec"}},
		{"RBAC-02", "cluster-admin binding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		}, []string{"cluster-admin is for administrators"}},
		{"RBAC-02", "admins may", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{AdminRoleLabel: "admin"}}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		}, nil},
		{"K8S-01", "bare pod", "kubernetes:core/v1:Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "intelliflow-dev"}}, []string{"bare Pod"}},
		{"K8S-01", "beta api", "kubernetes:policy/v1beta1:PodDisruptionBudget", map[string]any{"metadata": map[string]any{"name": "p", "namespace": "intelliflow-dev"}}, []string{"policy/v1beta1 is not GA"}},
		{"K8S-01", "beta api of an extension", "kubernetes:networking.k8s.io/v1beta1:Ingress", map[string]any{"metadata": map[string]any{"name": "i", "namespace": "intelliflow-dev"}}, []string{"networking.k8s.io/v1beta1 is not GA"}},
		{"K8S-01", "a project's own beta CRD version", "kubernetes:constraints.gatekeeper.sh/v1beta1:IntelliflowNoPrivileged", map[string]any{"metadata": map[string]any{"name": "c"}}, nil},
		{"SEC-15", "cluster-scoped constraint", "kubernetes:constraints.gatekeeper.sh/v1beta1:IntelliflowNoPrivileged", map[string]any{"metadata": map[string]any{"name": "c"}}, nil},
		{"K8S-02", "helm release", "kubernetes:helm.sh/v3:Release", map[string]any{"chart": "x"}, []string{"never sees"}},
	}
}

// TestRuleFixtures runs each fixture through the rules it names: failing
// fixtures must produce exactly the expected findings, passing ones none.
// The good base objects must pass every rule.
func TestRuleFixtures(t *testing.T) {
	settings := Settings{
		PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"},
		LoadBalancerServices: []string{"gateway"}, SpreadServices: []string{"gateway", "transactions"},
	}
	all := All(settings)
	require.Empty(t, Check(all, asResource(t, deploymentType, goodDeployment())), "the good Deployment passes every rule")

	failing := map[string]bool{
		// Their failing cases live in rules_test.go.
		"SEC-01": true, "SEC-16": true, "SEC-17": true, "SEC-18": true,
	}
	for _, f := range append(fixtures(), awsFixtures()...) {
		if f.want != nil {
			failing[f.rule] = true
		}
	}
	for _, r := range all {
		id := strings.Join(strings.SplitN(r.Name, "-", 3)[:2], "-")
		require.True(t, failing[id] || failing[strings.TrimSuffix(r.Name, "-probe")], "rule %s has no failing fixture", r.Name)
	}
	for _, f := range fixtures() {
		t.Run(f.rule+"/"+f.name, func(t *testing.T) { runFixture(t, all, f) })
	}
	t.Logf("%d fixtures", len(fixtures()))
}

// runFixture runs a fixture through the rules its id names: a failing
// fixture must produce exactly the expected findings, a passing one none.
func runFixture(t *testing.T, all []Rule, f fixture) {
	t.Helper()
	var selected []Rule
	for _, r := range all {
		if strings.HasPrefix(r.Name, f.rule+"-") || r.Name == f.rule {
			selected = append(selected, r)
		}
	}
	require.NotEmpty(t, selected, "no rule %s", f.rule)
	var msgs []string
	for _, fs := range Check(selected, asResource(t, f.typ, f.obj)) {
		for _, x := range fs {
			require.False(t, x.Unchecked, x.Message)
			msgs = append(msgs, x.Message)
		}
	}
	require.Len(t, msgs, len(f.want), "findings: %v", msgs)
	for _, w := range f.want {
		require.True(t, slicesContainSubstring(msgs, w), "no finding contains %q: %v", w, msgs)
	}
}

func slicesContainSubstring(msgs []string, sub string) bool {
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
