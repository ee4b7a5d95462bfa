// Package exporter provides the Exporter component: a Prometheus exporter
// for a managed data store (PostgreSQL, Redis) in the monitoring namespace,
// with its credentials from Vault, scraped through a ServiceMonitor. The
// platform's pg_* and redis_* alerts read what these publish.
//
// Not the community charts: they read the store's password from a
// Kubernetes Secret, and with Vault on no Kubernetes Secret holds a
// credential.
package exporter

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/servicemonitor"
)

// runAsID is the exporters' user: the images' nobody, above 10000 (SEC-05).
const runAsID = 65534

// Args configures one exporter.
type Args struct {
	// Name is the Deployment, Service, ServiceAccount and Vault role name.
	Name string
	// Namespace is where it runs (an input, so it waits for it) and
	// NamespaceName the same name, known now.
	Namespace     pulumi.StringInput
	NamespaceName string
	Image         string
	// Port serves /metrics.
	Port int
	// Args are the exporter's flags; Env its environment (values may be
	// computed, such as the store's endpoint).
	Args []string
	Env  map[string]pulumi.StringInput
	// LivenessPath and ReadinessPath are HTTP paths on Port.
	LivenessPath, ReadinessPath string
	// Files come from Vault through the agent, with role Name.
	Files []microservice.VaultFile
	// Process is the exporter's process name: when the agent renders a new
	// credential it stops the process and the kubelet starts it again on
	// the new one (exporters read their credentials once, at start).
	Process string
	// StoreCIDRs and StorePort are the only place it connects to besides
	// Vault.
	StoreCIDRs []string
	StorePort  int
	// VaultNamespace and VaultPort are where the Vault servers listen.
	VaultNamespace string
	VaultPort      int
	// PrometheusNamespace is where the scrapes come from.
	PrometheusNamespace string
	Replicas            int
	PriorityClass       string
}

var (
	labelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	fileRE    = regexp.MustCompile(`^[a-z0-9][-a-z0-9.]*$`)
	processRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	cidrRE    = regexp.MustCompile(`^[0-9.]+/[0-9]{1,2}$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	for f, v := range map[string]string{"Name": a.Name, "NamespaceName": a.NamespaceName, "VaultNamespace": a.VaultNamespace, "PrometheusNamespace": a.PrometheusNamespace} {
		if !labelRE.MatchString(v) {
			bad("%s %q is not a DNS label", f, v)
		}
	}
	if a.Namespace == nil || a.Image == "" {
		bad("Namespace and Image are required")
	}
	for f, p := range map[string]int{"Port": a.Port, "StorePort": a.StorePort, "VaultPort": a.VaultPort} {
		if p < 1 || p > 65535 {
			bad("%s %d is not a port", f, p)
		}
	}
	if a.LivenessPath == "" || a.ReadinessPath == "" {
		bad("LivenessPath and ReadinessPath are required")
	}
	if len(a.Files) == 0 {
		bad("Files: an exporter of a store needs its credentials from Vault")
	}
	for i, f := range a.Files {
		if !fileRE.MatchString(f.Name) || f.Path == "" || f.Template == "" {
			bad("Files[%d]: Name %q, Path and Template are required", i, f.Name)
		}
	}
	// pkill -x matches the kernel's 15-character command name.
	if !processRE.MatchString(a.Process) {
		bad("Process %q: the exporter's process name (at most 15 characters)", a.Process)
	}
	if len(a.StoreCIDRs) == 0 {
		bad("StoreCIDRs: name the store's network")
	}
	for i, c := range a.StoreCIDRs {
		if !cidrRE.MatchString(c) || c == "0.0.0.0/0" {
			bad("StoreCIDRs[%d] %q is not a private network", i, c)
		}
	}
	if a.Replicas < 1 {
		bad("Replicas %d, want at least 1", a.Replicas)
	}
	return errors.Join(errs...)
}

// Annotations configure the Vault Agent: the role, our token volume, one
// file per secret, and on re-render the exporter's restart. The agent runs
// as the exporter's user in a shared process namespace so it may signal it.
func (a *Args) Annotations() map[string]string {
	out := microservice.VaultAgentAnnotations(a.Name, a.Files)
	out["vault.hashicorp.com/agent-run-as-same-user"] = "true"
	for _, f := range a.Files {
		// Not running yet on the first render: nothing to stop.
		out["vault.hashicorp.com/agent-inject-command-"+f.Name] = "pkill -TERM -x " + a.Process + " || true"
	}
	return out
}

// Exporter is one deployed exporter.
type Exporter struct {
	pulumi.ResourceState
}

// New deploys the exporter.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Exporter, error) {
	if args == nil {
		return nil, fmt.Errorf("exporter %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("exporter %q: %w", name, err)
	}
	e := &Exporter{}
	if err := ctx.RegisterComponentResource("intelliflow:monitoring:Exporter", name, e, opts...); err != nil {
		return nil, fmt.Errorf("exporter %q: %w", name, err)
	}
	parent := pulumi.Parent(e)
	wrap := func(child string, err error) error { return fmt.Errorf("exporter %q: %s: %w", name, child, err) }
	a := args
	selector := map[string]string{"app.kubernetes.io/name": a.Name}
	labels := maps.Clone(selector)
	labels["app.kubernetes.io/part-of"] = "intelliflow"
	labels["app.kubernetes.io/component"] = "metrics"
	meta := func() *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(a.Name), Namespace: a.Namespace, Labels: pulumi.ToStringMap(labels)}
	}

	sa, err := corev1.NewServiceAccount(ctx, name+"-sa", &corev1.ServiceAccountArgs{
		Metadata: meta(), AutomountServiceAccountToken: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, wrap("service account", err)
	}
	var env corev1.EnvVarArray
	for _, k := range slices.Sorted(maps.Keys(a.Env)) {
		env = append(env, &corev1.EnvVarArgs{Name: pulumi.String(k), Value: a.Env[k]})
	}
	probe := func(path string, period, failures int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:       &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("metrics")},
			PeriodSeconds: pulumi.Int(period), TimeoutSeconds: pulumi.Int(5), FailureThreshold: pulumi.Int(failures),
		}
	}
	container := &corev1.ContainerArgs{
		Name: pulumi.String(a.Name), Image: pulumi.String(a.Image), ImagePullPolicy: pulumi.String("IfNotPresent"),
		Args:  pulumi.ToStringArray(a.Args),
		Env:   env,
		Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(a.Port), Protocol: pulumi.String("TCP")}},
		Resources: &corev1.ResourceRequirementsArgs{
			Requests: pulumi.StringMap{"cpu": pulumi.String("25m"), "memory": pulumi.String("64Mi"), "ephemeral-storage": pulumi.String("64Mi")},
			Limits:   pulumi.StringMap{"cpu": pulumi.String("250m"), "memory": pulumi.String("128Mi"), "ephemeral-storage": pulumi.String("128Mi")},
		},
		// The agent renders the first credential before the exporter starts
		// (init container), so a startup window of one minute is ample.
		StartupProbe:    probe(a.LivenessPath, 5, 12),
		LivenessProbe:   probe(a.LivenessPath, 20, 3),
		ReadinessProbe:  probe(a.ReadinessPath, 10, 2),
		SecurityContext: microservice.RestrictedContainer(),
		Lifecycle: &corev1.LifecycleArgs{PreStop: &corev1.LifecycleHandlerArgs{
			Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(5)},
		}},
	}
	spec := &corev1.PodSpecArgs{
		ServiceAccountName:           sa.Metadata.Name().Elem(),
		AutomountServiceAccountToken: pulumi.Bool(false),
		// The agent stops the exporter when a credential changes.
		ShareProcessNamespace:         pulumi.Bool(true),
		TerminationGracePeriodSeconds: pulumi.Int(15),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(runAsID), RunAsGroup: pulumi.Int(runAsID), FsGroup: pulumi.Int(runAsID),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		Containers: corev1.ContainerArray{container},
		Volumes:    corev1.VolumeArray{microservice.VaultTokenVolume()},
		TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{&corev1.TopologySpreadConstraintArgs{
			MaxSkew: pulumi.Int(1), TopologyKey: pulumi.String("topology.kubernetes.io/zone"), WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
		}},
	}
	if a.PriorityClass != "" {
		spec.PriorityClassName = pulumi.String(a.PriorityClass)
	}
	if _, err := appsv1.NewDeployment(ctx, name+"-deployment", &appsv1.DeploymentArgs{
		Metadata: meta(),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(a.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			Strategy: &appsv1.DeploymentStrategyArgs{Type: pulumi.String("RollingUpdate"), RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
				MaxUnavailable: pulumi.Int(0), MaxSurge: pulumi.Int(1),
			}},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(labels), Annotations: pulumi.ToStringMap(a.Annotations())},
				Spec:     spec,
			},
		},
	}, parent); err != nil {
		return nil, wrap("deployment", err)
	}
	if _, err := corev1.NewService(ctx, name+"-service", &corev1.ServiceArgs{
		Metadata: meta(),
		Spec: &corev1.ServiceSpecArgs{
			Type: pulumi.String("ClusterIP"), Selector: pulumi.ToStringMap(selector),
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{Name: pulumi.String("metrics"), Port: pulumi.Int(a.Port), TargetPort: pulumi.String("metrics")}},
		},
	}, parent); err != nil {
		return nil, wrap("service", err)
	}
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name+"-pdb", &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable:             pulumi.Int(1),
			Selector:                   &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			UnhealthyPodEvictionPolicy: pulumi.String("AlwaysAllow"),
		},
	}, parent); err != nil {
		return nil, wrap("disruption budget", err)
	}
	tcp := namespace.TCP
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-netpol", &networkingv1.NetworkPolicyArgs{
		Metadata: meta(),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selector)},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				From: namespace.Namespaces(a.PrometheusNamespace), Ports: tcp(a.Port),
			}},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{
				&networkingv1.NetworkPolicyEgressRuleArgs{To: namespace.CIDRs(a.StoreCIDRs...), Ports: tcp(a.StorePort)},
				&networkingv1.NetworkPolicyEgressRuleArgs{
					To:    namespace.PodsIn(a.VaultNamespace, map[string]string{"app.kubernetes.io/name": "vault"}),
					Ports: tcp(a.VaultPort),
				},
			},
		},
	}, parent); err != nil {
		return nil, wrap("network policy", err)
	}
	if _, err := servicemonitor.New(ctx, name+"-monitor", &servicemonitor.Args{
		Name: a.Name, Namespace: a.Namespace, Labels: labels, Selector: selector,
		Endpoints: []servicemonitor.Endpoint{{Port: "metrics"}},
	}, parent); err != nil {
		return nil, wrap("service monitor", err)
	}
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return e, nil
}
