package rules

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
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

// asResource turns a Kubernetes object, a property map or YAML text into
// what the analyzer receives.
func asResource(t *testing.T, typ string, obj any) policyx.AnalyzerResource {
	t.Helper()
	var m map[string]any
	if text, ok := obj.(string); ok {
		require.NoError(t, yaml.Unmarshal([]byte(text), &m))
	} else {
		b, err := json.Marshal(obj)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &m))
	}
	return policyx.AnalyzerResource{Type: typ, Name: "fixture", Properties: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(m))}
}

func deploymentWith(mutate func(d *appsv1.Deployment)) any {
	d := goodDeployment()
	mutate(d)
	return d
}

// fixture is one case of a rule's table: a resource and what the one policy
// it names must find in it.
type fixture struct {
	policy string // the policy's full name, e.g. SEC-17-image-digest
	name   string
	typ    string
	obj    any // a Kubernetes object, a property map or YAML text
	want   []string
	// settings are the stack's; nil means fixtureSettings.
	settings *Settings
}

// fixtureSettings are the settings fixtures run under unless they name
// their own.
var fixtureSettings = Settings{
	PodSecurityVersion: "v1.33", ImageRegistries: []string{"registry.intelliflow.internal"},
	LoadBalancerServices: []string{"gateway"}, SpreadServices: []string{"gateway", "transactions"}, Production: true, AutoUnseal: true,
}

func fixtures() []fixture {
	const dep = deploymentType
	return []fixture{
		{"SEC-02-no-privileged", "privileged", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).SecurityContext.Privileged = ptr(true) }), []string{"securityContext.privileged"}, nil},
		{"SEC-03-no-privilege-escalation", "escalation allowed", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).SecurityContext.AllowPrivilegeEscalation = nil }), []string{"allowPrivilegeEscalation: container \"transactions\" must set it to false"}, nil},
		{"SEC-04-non-root", "root", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.SecurityContext.RunAsUser = ptr(int64(0))
			c0(d).SecurityContext.RunAsNonRoot = ptr(false)
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = ptr(false)
		}), []string{"must run as non-root", "runs as UID 0"}, nil},
		{"SEC-05-high-uid", "low uid", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.SecurityContext.RunAsUser = ptr(int64(1000)) }), []string{"UID of 10000 or more"}, nil},
		{"SEC-06-capabilities", "capabilities", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}
		}), []string{"must drop ALL", "adds NET_ADMIN"}, nil},
		{"SEC-07-seccomp", "no seccomp", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.SecurityContext.SeccompProfile = nil }), []string{"needs type RuntimeDefault"}, nil},
		{"SEC-08-read-only-root", "writable root", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).SecurityContext.ReadOnlyRootFilesystem = ptr(false) }), []string{"readOnlyRootFilesystem"}, nil},
		{"SEC-09-no-host-namespaces", "host network and pid", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.HostNetwork = true
			d.Spec.Template.Spec.HostPID = true
		}), []string{"hostNetwork", "hostPID"}, nil},
		{"SEC-10-safe-volumes", "hostPath", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}), []string{`volume "host"`}, nil},
		{"SEC-10-safe-volumes", "emptyDir is fine", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}), nil, nil},
		{"SEC-11-no-host-port", "hostPort", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).Ports[0].HostPort = 8080 }), []string{"binds node port 8080"}, nil},
		{"SEC-12-proc-mount-sysctls", "unsafe sysctl", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}
		}), []string{"kernel.msgmax is not a safe sysctl"}, nil},
		{"SEC-13-no-token-automount", "token mounted", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.AutomountServiceAccountToken = nil }), []string{"automountServiceAccountToken: must be false"}, nil},
		{"SEC-13-no-token-automount", "API caller says so", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.AutomountServiceAccountToken = ptr(true)
			d.Spec.Template.Annotations = map[string]string{KubernetesAPIAnnotation: "true"}
		}), nil, nil},
		{"SEC-14-named-service-account", "default account", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.ServiceAccountName = "default" }), []string{`serviceAccountName: "default"`}, nil},
		{"SEC-15-namespace", "default namespace", dep, deploymentWith(func(d *appsv1.Deployment) { d.Namespace = "default" }), []string{"metadata.namespace: default"}, nil},
		{"SEC-15-namespace", "no namespace", dep, deploymentWith(func(d *appsv1.Deployment) { d.Namespace = "" }), []string{"metadata.namespace: unset"}, nil},
		{"SEC-15-namespace", "cluster-scoped kinds need none", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, nil, nil},
		{"SEC-19-no-literal-secrets", "literal password", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}, {Name: "PASSWORD_MIN_LENGTH", Value: "12"}}
		}), []string{"sets DB_PASSWORD to a literal value"}, nil},
		{"SEC-19-no-literal-secrets", "secret in a ConfigMap", "kubernetes:core/v1:ConfigMap", &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "intelliflow-dev"}, Data: map[string]string{"API_KEY": "x", "LOG_LEVEL": "info"},
		}, []string{`data["API_KEY"]`}, nil},
		{"SEC-20-resources", "no requests", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).Resources = corev1.ResourceRequirements{} }), []string{"requests.cpu", "requests.memory", "limits.memory"}, nil},
		{"SEC-21-ephemeral-storage", "no ephemeral storage", dep, deploymentWith(func(d *appsv1.Deployment) {
			delete(c0(d).Resources.Requests, "ephemeral-storage")
		}), []string{"ephemeral-storage"}, nil},
		{"REL-01-replicas", "one replica", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(1)) }), []string{"spec.replicas: 1"}, nil},
		{"REL-01-replicas", "three replicas", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(3)) }), nil, nil},
		{"REL-03-spread", "no spread", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.TopologySpreadConstraints = nil }), []string{"across zones", "across hosts"}, nil},
		{"REL-03-spread", "required anti-affinity counts for hosts", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.TopologySpreadConstraints = d.Spec.Template.Spec.TopologySpreadConstraints[:1]
			d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: corev1.LabelHostname}}}}
		}), nil, nil},
		{"REL-04-probes", "same probes, no readiness", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).LivenessProbe = c0(d).ReadinessProbe
		}), []string{"same endpoint for liveness and readiness"}, nil},
		{"REL-04-probes", "no readiness", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).ReadinessProbe = nil }), []string{"no readiness probe"}, nil},
		{"REL-04-startup-probe", "no startup probe", dep, deploymentWith(func(d *appsv1.Deployment) { c0(d).StartupProbe = nil }), []string{"without a startup probe"}, nil},
		{"REL-05-graceful-termination", "no preStop, surge down", dep, deploymentWith(func(d *appsv1.Deployment) {
			c0(d).Lifecycle = nil
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("25%"))
		}), []string{"no pre-stop delay", "maxUnavailable: 25%"}, nil},
		{"REL-05-graceful-termination", "grace shorter than preStop", dep, deploymentWith(func(d *appsv1.Deployment) { d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(5)) }), []string{"not longer than the 5s pre-stop sleep"}, nil},
		{"REL-05-graceful-termination", "recreate", dep, deploymentWith(func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}), []string{"Recreate"}, nil},
		{"REL-06-hpa", "hpa without behavior, min 1", hpaType, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "intelliflow-dev"},
			Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr(int32(1)), MaxReplicas: 1},
		}, []string{"minReplicas: must be 2", "maxReplicas: 1 must be greater", "spec.behavior"}, nil},
		{"REL-06-hpa", "good hpa", hpaType, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "intelliflow-dev"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr(int32(2)), MaxReplicas: 5, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{}, ScaleDown: &autoscalingv2.HPAScalingRules{},
			}},
		}, nil, nil},
		{"REL-06-hpa", "autoscaling/v1", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler", &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "intelliflow-dev"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MinReplicas: ptr(int32(2)), MaxReplicas: 5},
		}, []string{"kubernetes:autoscaling/v1:HorizontalPodAutoscaler: use autoscaling/v2"}, nil},
		{"REL-06-hpa", "autoscaling/v2beta1", "kubernetes:autoscaling/v2beta1:HorizontalPodAutoscaler", map[string]any{"spec": map[string]any{"maxReplicas": 5}}, []string{"use autoscaling/v2"}, nil},
		{"REL-06-hpa", "autoscaling/v2beta2", "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler", map[string]any{"spec": map[string]any{"maxReplicas": 5}}, []string{"use autoscaling/v2"}, nil},
		{"NET-02-service-types", "node port", "kubernetes:core/v1:Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "intelliflow-dev"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}, []string{"NodePort"}, nil},
		{"NET-02-service-types", "load balancer for a chart's pods", "kubernetes:core/v1:Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "monitoring"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app.kubernetes.io/name": "grafana"}}}, []string{`LoadBalancer for pods "grafana"`}, nil},
		{"NET-02-service-types", "load balancer for users", "kubernetes:core/v1:Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "intelliflow-dev"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{appLabel: "users"}}}, []string{`LoadBalancer for pods "users"`}, nil},
		{"NET-03-tls", "ingress without tls", "kubernetes:networking.k8s.io/v1:Ingress", &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "intelliflow-dev"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "api.example.com"}}},
		}, []string{"serves plain HTTP"}, nil},
		{"NET-03-tls", "host without tls", "kubernetes:networking.k8s.io/v1:Ingress", &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: "intelliflow-dev"},
			Spec:       networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}}}, Rules: []networkingv1.IngressRule{{Host: "api.example.com"}, {Host: "admin.example.com"}}},
		}, []string{`"admin.example.com" has no TLS entry`}, nil},
		{"NET-03-tls", "lb with old TLS", "kubernetes:core/v1:Service", &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "intelliflow-dev", Annotations: map[string]string{"service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": "ELBSecurityPolicy-2016-08"}},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{appLabel: "gateway"}},
		}, []string{"does not terminate TLS", `"ELBSecurityPolicy-2016-08" allows TLS below 1.2`}, nil},
		{"RBAC-01-no-wildcards", "wildcards", "kubernetes:rbac.authorization.k8s.io/v1:Role", &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "intelliflow-dev"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
		}, []string{"rules[0].verbs", "rules[0].resources", "rules[0].apiGroups"}, nil},
		{"RBAC-01-no-wildcards", "narrow role", "kubernetes:rbac.authorization.k8s.io/v1:Role", &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "intelliflow-dev"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
		}, nil, nil},
		{"RBAC-01-no-wildcards", "wildcard cluster role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"*"}}},
		}, []string{"rules[0].verbs"}, nil},
		{"RBAC-02-no-escalation", "namespaced role reading every secret", "kubernetes:rbac.authorization.k8s.io/v1:Role", &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "intelliflow-dev"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "watch"}}},
		}, []string{"watch on secrets"}, nil},
		{"RBAC-02-no-escalation", "cluster-admin in a namespace", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "intelliflow-dev"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		}, []string{"cluster-admin is for administrators"}, nil},
		{"RBAC-02-no-escalation", "escalating role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "pods/exec"}, Verbs: []string{"list", "create", "impersonate"}}},
		}, []string{"impersonate", "list on secrets", "create on pods/exec"}, nil},
		{"RBAC-02-no-escalation", "cluster-admin binding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		}, []string{"cluster-admin is for administrators"}, nil},
		{"RBAC-02-no-escalation", "admins may", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{AdminRoleLabel: "admin"}}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
		}, nil, nil},
		{"K8S-01-api-versions", "bare pod", "kubernetes:core/v1:Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "intelliflow-dev"}}, []string{"bare Pod"}, nil},
		{"K8S-01-api-versions", "beta api", "kubernetes:policy/v1beta1:PodDisruptionBudget", map[string]any{"metadata": map[string]any{"name": "p", "namespace": "intelliflow-dev"}}, []string{"policy/v1beta1 is not GA"}, nil},
		{"K8S-01-api-versions", "beta api of an extension", "kubernetes:networking.k8s.io/v1beta1:Ingress", map[string]any{"metadata": map[string]any{"name": "i", "namespace": "intelliflow-dev"}}, []string{"networking.k8s.io/v1beta1 is not GA"}, nil},
		{"K8S-01-api-versions", "a project's own beta CRD version", "kubernetes:constraints.gatekeeper.sh/v1beta1:IntelliflowNoPrivileged", map[string]any{"metadata": map[string]any{"name": "c"}}, nil, nil},
		{"SEC-15-namespace", "cluster-scoped constraint", "kubernetes:constraints.gatekeeper.sh/v1beta1:IntelliflowNoPrivileged", map[string]any{"metadata": map[string]any{"name": "c"}}, nil, nil},
		{"K8S-02-visible-charts", "helm release", "kubernetes:helm.sh/v3:Release", map[string]any{"chart": "x"}, []string{"never sees"}, nil},
	}
}

// TestRuleFixtures runs every table's fixtures, each through the one policy
// it names: failing fixtures must produce exactly the expected findings,
// passing ones none. The good base Deployment passes every rule.
func TestRuleFixtures(t *testing.T) {
	require.Empty(t, Check(All(fixtureSettings), asResource(t, deploymentType, goodDeployment())), "the good Deployment passes every rule")
	all := allFixtures(t)
	for _, f := range all {
		t.Run(f.policy+"/"+f.name, func(t *testing.T) {
			got := findings(t, f)
			require.Len(t, got, len(f.want), "findings: %v", got)
			for _, w := range f.want {
				require.True(t, slicesContainSubstring(got, w), "no finding contains %q: %v", w, got)
			}
		})
	}
	t.Logf("%d fixtures", len(all))
}

// TestEveryPolicyFailsEachTypeItExamines is the guard: every policy of the
// pack, resource and whole-stack, has a fixture that it fails, for every
// resource type it examines (a rule of any type needs one). A rule that
// stops reporting, or a type branch that goes blind, fails here even when
// its own fixture went with it.
func TestEveryPolicyFailsEachTypeItExamines(t *testing.T) {
	failing := map[string]map[string]bool{}
	mark := func(policy, typ string) {
		if failing[policy] == nil {
			failing[policy] = map[string]bool{}
		}
		failing[policy][typ] = true
	}
	for _, f := range allFixtures(t) {
		if f.want != nil && len(findings(t, f)) > 0 {
			mark(f.policy, f.typ)
		}
	}
	stackTypes := map[string][]string{}
	for _, r := range AllStack() {
		stackTypes[r.Name] = r.Types
	}
	for _, f := range allStackFixtures(t) {
		for _, got := range runStackFixture(t, f)[f.policy] {
			require.Contains(t, stackTypes[f.policy], got.Type, "%s reports on a type it does not declare: %s", f.policy, got.Message)
			mark(f.policy, got.Type)
		}
	}

	var missing []string
	need := func(policy string, types []string) {
		if len(types) == 0 && len(failing[policy]) == 0 {
			missing = append(missing, policy+" (any type)")
		}
		for _, typ := range types {
			if !failing[policy][typ] {
				missing = append(missing, policy+" on "+typ)
			}
		}
	}
	for _, r := range All(fixtureSettings) {
		need(r.Name, r.Types)
	}
	for _, r := range AllStack() {
		require.NotEmpty(t, r.Types, "stack rule %s names the types it reports on", r.Name)
		need(r.Name, r.Types)
	}
	require.Empty(t, missing, "policies without a failing fixture")
}

// allFixtures is every table of resource fixtures, with each Deployment
// fixture of a rule that examines other workload kinds carried into them.
func allFixtures(t *testing.T) []fixture {
	t.Helper()
	tables := [][]fixture{fixtures(), awsFixtures(), imageFixtures(), podSecurityFixtures(), namespaceFixtures()}
	rules := map[string]Rule{}
	for _, r := range All(fixtureSettings) {
		rules[r.Name] = r
	}
	var out []fixture
	for _, table := range tables {
		for _, f := range table {
			out = append(out, f)
			if f.typ != deploymentType {
				continue
			}
			for _, typ := range rules[f.policy].Types {
				if typ == deploymentType || podSpecPaths[typ] == nil {
					continue
				}
				v := f
				v.name = f.name + " as " + kindOf(typ)
				v.typ, v.obj = typ, inKind(typ, asDeployment(t, f.obj))
				v.want = nil
				for _, w := range f.want {
					v.want = append(v.want, strings.ReplaceAll(w, "spec.template.spec", strings.Join(podSpecPaths[typ], ".")))
				}
				out = append(out, v)
			}
		}
	}
	return out
}

// findings runs a fixture through the one policy it names and returns the
// messages; a fixture never yields an unchecked finding.
func findings(t *testing.T, f fixture) []string {
	t.Helper()
	settings := fixtureSettings
	if f.settings != nil {
		settings = *f.settings
	}
	var rule []Rule
	for _, r := range All(settings) {
		if r.Name == f.policy {
			rule = append(rule, r)
		}
	}
	require.Len(t, rule, 1, "fixture %q names policy %q", f.name, f.policy)
	var msgs []string
	for _, x := range Check(rule, asResource(t, f.typ, f.obj))[f.policy] {
		require.False(t, x.Unchecked, x.Message)
		msgs = append(msgs, x.Message)
	}
	return msgs
}

// asDeployment decodes a Deployment fixture, object or YAML.
func asDeployment(t *testing.T, obj any) *appsv1.Deployment {
	t.Helper()
	if d, ok := obj.(*appsv1.Deployment); ok {
		return d.DeepCopy()
	}
	text, ok := obj.(string)
	require.True(t, ok, "a Deployment fixture is an *appsv1.Deployment or YAML, not %T", obj)
	var d appsv1.Deployment
	require.NoError(t, yaml.UnmarshalStrict([]byte(text), &d))
	return &d
}

// inKind carries a Deployment's pod template, and its replicas where the
// kind has them, into another workload kind.
func inKind(typ string, d *appsv1.Deployment) any {
	meta, tmpl := d.ObjectMeta, d.Spec.Template
	switch kindOf(typ) {
	case "StatefulSet":
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: tmpl}}
	case "DaemonSet":
		return &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: tmpl}}
	case "ReplicaSet":
		return &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: tmpl}}
	case "ReplicationController":
		var selector map[string]string
		if d.Spec.Selector != nil {
			selector = d.Spec.Selector.MatchLabels
		}
		return &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Replicas: d.Spec.Replicas, Selector: selector, Template: &tmpl}}
	case "Job":
		return &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}}
	case "CronJob":
		return &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	case "Pod":
		pm := tmpl.ObjectMeta
		pm.Name, pm.Namespace = meta.Name, meta.Namespace
		return &corev1.Pod{ObjectMeta: pm, Spec: tmpl.Spec}
	case "PodTemplate":
		return &corev1.PodTemplate{ObjectMeta: meta, Template: tmpl}
	}
	return d
}

func slicesContainSubstring(msgs []string, sub string) bool {
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
