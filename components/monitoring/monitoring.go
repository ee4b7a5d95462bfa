package monitoring

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/namespace"
)

// ChartVersion pins kube-prometheus-stack.
const ChartVersion = "75.15.1"

// GrafanaAdminSecret holds Grafana's admin login.
const GrafanaAdminSecret = "grafana-admin"

// Args configures monitoring.
type Args struct {
	// Namespace is the monitoring namespace's name; NamespaceReady orders
	// objects after it.
	Namespace      string
	NamespaceReady pulumi.StringInput
	// ChartRepository and ImageRegistry are the platform's mirrors.
	ChartRepository, ImageRegistry string
	// AppNamespace is where the services the rules watch run.
	AppNamespace string
	// RetentionDays and StorageGiB size Prometheus; Replicas > 1 in prod.
	RetentionDays, StorageGiB, Replicas int
	Routing                             Routing
	// Receivers are the receivers' credentials by key (SlackWebhookKey,
	// PagerDutyRoutingKey, SMTPPasswordKey), Pulumi secrets.
	Receivers map[string]pulumi.StringInput
	// GrafanaAdminPassword is a Pulumi secret.
	GrafanaAdminPassword pulumi.StringInput
	// ControlPlaneCIDRs are where the API server calls the operator's
	// webhook from and where Prometheus reaches the API.
	ControlPlaneCIDRs []string
	// AlertNamespaces are the namespaces whose pods post alerts to
	// Alertmanager themselves (Falcosidekick's).
	AlertNamespaces []string
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if a.Namespace == "" || a.NamespaceReady == nil || a.AppNamespace == "" {
		bad("Namespace, NamespaceReady and AppNamespace are required")
	}
	if chart.ValidRepository(a.ChartRepository) != nil || a.ImageRegistry == "" {
		bad("ChartRepository %q and ImageRegistry %q are required", a.ChartRepository, a.ImageRegistry)
	}
	if a.RetentionDays < 1 || a.StorageGiB < 10 || a.Replicas < 1 {
		bad("RetentionDays %d, StorageGiB %d, Replicas %d: want >= 1, >= 10, >= 1", a.RetentionDays, a.StorageGiB, a.Replicas)
	}
	if err := a.Routing.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Routing: %w", err))
	}
	for _, k := range []string{SlackWebhookKey, PagerDutyRoutingKey, SMTPPasswordKey} {
		if a.Receivers[k] == nil {
			bad("Receivers: %s is required", k)
		}
	}
	if a.GrafanaAdminPassword == nil || len(a.ControlPlaneCIDRs) == 0 {
		bad("GrafanaAdminPassword and ControlPlaneCIDRs are required")
	}
	return errors.Join(errs...)
}

// RuleGroups are Groups as a PrometheusRule's spec.groups.
func RuleGroups(appNamespace string) []any {
	var out []any
	for _, g := range Groups(appNamespace) {
		var rules []any
		for _, r := range g.Rules {
			labels := map[string]any{"severity": r.Severity}
			if r.Service != "" {
				labels["service"] = r.Service
			}
			rules = append(rules, map[string]any{
				"alert": r.Alert, "expr": r.Expr, "for": r.For, "labels": labels,
				"annotations": map[string]any{"summary": r.Summary, "description": r.Description},
			})
		}
		out = append(out, map[string]any{"name": g.Name, "rules": rules})
	}
	return out
}

// Values are the chart values.
func (a *Args) Values() (pulumi.Map, error) {
	raw, err := AlertmanagerConfig(a.Routing)
	if err != nil {
		return nil, err
	}
	var amConfig map[string]any
	if err := yaml.Unmarshal([]byte(raw), &amConfig); err != nil {
		return nil, err
	}
	return pulumi.Map{
		"global": pulumi.Map{"imageRegistry": pulumi.String(strings.TrimSuffix(a.ImageRegistry, "/"))},
		// The node exporter needs the host's network and PID namespaces;
		// container and node figures come from the kubelet's cAdvisor.
		"nodeExporter":     pulumi.Map{"enabled": pulumi.Bool(false)},
		"defaultRules":     pulumi.Map{"create": pulumi.Bool(true), "rules": pulumi.Map{"node": pulumi.Bool(false)}},
		"kubeStateMetrics": pulumi.Map{"enabled": pulumi.Bool(true)},
		// Both list and watch the cluster's objects.
		"kube-state-metrics": pulumi.Map{
			"podAnnotations": chart.CallsAPI(), "resources": chart.Resources("50m", "256Mi"),
			// Its defaults less secrets: no alert reads kube_secret_*, and
			// listing them would let it read every Secret in the cluster.
			"collectors": pulumi.ToStringArray(StateMetricsCollectors),
		},
		"prometheusOperator": pulumi.Map{"podAnnotations": chart.CallsAPI(), "resources": chart.Resources("100m", "256Mi")},
		"prometheus": pulumi.Map{"prometheusSpec": pulumi.Map{
			"replicas":  pulumi.Int(a.Replicas),
			"retention": pulumi.Sprintf("%dd", a.RetentionDays),
			// Keep 10 % headroom so a full disk never stops ingestion.
			"retentionSize": pulumi.Sprintf("%dGB", a.StorageGiB*9/10),
			"storageSpec": pulumi.Map{"volumeClaimTemplate": pulumi.Map{"spec": pulumi.Map{
				"accessModes": pulumi.ToStringArray([]string{"ReadWriteOnce"}),
				"resources":   pulumi.Map{"requests": pulumi.Map{"storage": pulumi.Sprintf("%dGi", a.StorageGiB)}},
			}}},
			// Every ServiceMonitor and rule in the cluster, not only the chart's.
			"serviceMonitorSelectorNilUsesHelmValues": pulumi.Bool(false),
			"podMonitorSelectorNilUsesHelmValues":     pulumi.Bool(false),
			"ruleSelectorNilUsesHelmValues":           pulumi.Bool(false),
			"resources":                               chart.Resources("500m", "4Gi"),
		}},
		"alertmanager": pulumi.Map{
			"config": pulumi.ToMap(amConfig),
			"alertmanagerSpec": pulumi.Map{
				"replicas":  pulumi.Int(min(a.Replicas+1, 3)),
				"secrets":   pulumi.ToStringArray([]string{ReceiversSecret}),
				"resources": chart.Resources("50m", "256Mi"),
			},
		},
		"grafana": pulumi.Map{
			"admin": pulumi.Map{"existingSecret": pulumi.String(GrafanaAdminSecret), "userKey": pulumi.String("admin-user"), "passwordKey": pulumi.String("admin-password")},
			"sidecar": pulumi.Map{
				"dashboards":      pulumi.Map{"enabled": pulumi.Bool(true), "label": pulumi.String("grafana_dashboard"), "searchNamespace": pulumi.String("ALL")},
				"resources":       chart.Resources("20m", "128Mi"),
				"securityContext": chart.RestrictedContainer(),
			},
			// Its database and plugins live on its storage volume; /tmp is
			// the only other place it writes.
			"containerSecurityContext": chart.RestrictedContainer(),
			"extraEmptyDirMounts":      pulumi.Array{pulumi.Map{"name": pulumi.String("tmp"), "mountPath": pulumi.String("/tmp")}},
			"resources":                chart.Resources("100m", "256Mi"),
			// Its sidecar reads the dashboards' ConfigMaps.
			"podAnnotations": chart.CallsAPI(),
			// /api/health checks Grafana's database (readiness); /healthz
			// only that the server answers (liveness).
			"livenessProbe": pulumi.Map{
				"httpGet":             pulumi.Map{"path": pulumi.String("/healthz"), "port": pulumi.Int(3000)},
				"initialDelaySeconds": pulumi.Int(60), "timeoutSeconds": pulumi.Int(30), "failureThreshold": pulumi.Int(10),
			},
		},
	}, nil
}

// StateMetricsCollectors are the object kinds kube-state-metrics exports:
// its chart's defaults without secrets.
var StateMetricsCollectors = []string{
	"certificatesigningrequests", "configmaps", "cronjobs", "daemonsets", "deployments", "endpoints",
	"horizontalpodautoscalers", "ingresses", "jobs", "leases", "limitranges", "mutatingwebhookconfigurations",
	"namespaces", "networkpolicies", "nodes", "persistentvolumeclaims", "persistentvolumes",
	"poddisruptionbudgets", "pods", "replicasets", "replicationcontrollers", "resourcequotas", "services",
	"statefulsets", "storageclasses", "validatingwebhookconfigurations", "volumeattachments",
}

// Monitoring is the installed metrics and alerting stack.
type Monitoring struct {
	pulumi.ResourceState
}

// New installs the chart with our rules and routing.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if args == nil {
		return nil, fmt.Errorf("monitoring %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	values, err := args.Values()
	if err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:Monitoring", name, m, opts...); err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	parent := pulumi.Parent(m)
	wrap := func(child string, err error) error { return fmt.Errorf("monitoring %q: %s: %w", name, child, err) }
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")}

	receivers := pulumi.StringMap{}
	for k, v := range args.Receivers {
		receivers[k] = pulumi.ToSecret(v).(pulumi.StringOutput)
	}
	secrets := []pulumi.Resource{}
	for sname, data := range map[string]pulumi.StringMap{
		ReceiversSecret:    receivers,
		GrafanaAdminSecret: {"admin-user": pulumi.String("admin"), "admin-password": pulumi.ToSecret(args.GrafanaAdminPassword).(pulumi.StringOutput)},
	} {
		sec, err := corev1.NewSecret(ctx, name+"-"+sname, &corev1.SecretArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(sname), Namespace: args.NamespaceReady, Labels: labels},
			Type:     pulumi.String("Opaque"), StringData: data,
		}, parent)
		if err != nil {
			return nil, wrap("secret "+sname, err)
		}
		secrets = append(secrets, sec)
	}

	if err := networkPolicies(ctx, name, args, labels, parent); err != nil {
		return nil, wrap("network policy", err)
	}

	release, err := chart.New(ctx, name, chart.Args{
		Chart:      "kube-prometheus-stack",
		Version:    ChartVersion,
		Namespace:  args.NamespaceReady,
		Repository: args.ChartRepository,
		Values:     values,
	}, parent, pulumi.DependsOn(secrets))
	if err != nil {
		return nil, wrap("chart", err)
	}
	// The metrics adapter: the HPAs' custom and external metrics from
	// Prometheus (prometheus-operated is the operator's Service for it).
	reg := strings.TrimSuffix(args.ImageRegistry, "/")
	if _, err := chart.New(ctx, name+"-adapter", chart.Args{
		Chart:      "prometheus-adapter",
		Version:    AdapterChartVersion,
		Namespace:  args.NamespaceReady,
		Repository: args.ChartRepository,
		Values: pulumi.Map{
			"image":      pulumi.Map{"repository": pulumi.String(reg + "/prometheus-adapter/prometheus-adapter")},
			"replicas":   pulumi.Int(2),
			"prometheus": pulumi.Map{"url": pulumi.Sprintf("http://prometheus-operated.%s.svc", args.Namespace), "port": pulumi.Int(9090)},
			"rules":      pulumi.ToMap(AdapterRules()),
			"resources":  pulumi.Map{"requests": pulumi.Map{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")}, "limits": pulumi.Map{"memory": pulumi.String("512Mi")}},
			// An aggregated API server: it reviews every caller's token.
			"podAnnotations":      chart.CallsAPI(),
			"listenPort":          pulumi.Int(AdapterPort),
			"podDisruptionBudget": chart.Budget(),
			// Its API server library serves liveness and readiness apart.
			"livenessProbe":  adapterProbe("/livez"),
			"readinessProbe": adapterProbe("/readyz"),
		},
		PostRenderer: chart.APIRegistrationV1(),
	}, parent, pulumi.DependsOn([]pulumi.Resource{release})); err != nil {
		return nil, wrap("adapter", err)
	}
	if _, err := apiextensions.NewCustomResource(ctx, name+"-rules", &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String("monitoring.coreos.com/v1"),
		Kind:        pulumi.String("PrometheusRule"),
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String("intelliflow"), Namespace: args.NamespaceReady, Labels: labels},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{"groups": RuleGroups(args.AppNamespace)}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{release})); err != nil {
		return nil, wrap("rules", err)
	}
	// Dashboards: ConfigMaps Grafana's sidecar provisions (label
	// grafana_dashboard), generated with the same metric names as the rules.
	for _, d := range Dashboards(args.AppNamespace) {
		body, err := d.JSON()
		if err != nil {
			return nil, wrap("dashboard "+d.UID, err)
		}
		if _, err := corev1.NewConfigMap(ctx, name+"-"+d.ConfigMapName(), &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name: pulumi.String(d.ConfigMapName()), Namespace: args.NamespaceReady,
				Labels: pulumi.StringMap{"grafana_dashboard": pulumi.String("1"), "app.kubernetes.io/part-of": pulumi.String("intelliflow")},
			},
			Data: pulumi.StringMap{d.UID + ".json": pulumi.String(body)},
		}, parent); err != nil {
			return nil, wrap("dashboard "+d.UID, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return m, nil
}

// Pod labels the network policies select by: the charts' own, and the
// operator's for the Prometheus and Alertmanager it runs.
var (
	prometheusPods   = map[string]string{"app.kubernetes.io/name": "prometheus"}
	alertmanagerPods = map[string]string{"app.kubernetes.io/name": "alertmanager"}
	grafanaPods      = map[string]string{"app.kubernetes.io/name": "grafana"}
	operatorPods     = map[string]string{"app": "kube-prometheus-stack-operator"}
	stateMetricsPods = map[string]string{"app.kubernetes.io/name": "kube-state-metrics"}
	adapterPods      = map[string]string{"app.kubernetes.io/name": "prometheus-adapter"}
)

// AlertmanagerPort is where Alertmanager takes alerts.
const AlertmanagerPort = 9093

// AdapterPort is where the metrics adapter serves its aggregated APIs.
const AdapterPort = 6443

// networkPolicies open the default-deny namespace. Inside it (the
// monitoring and logging stacks, which query and ship to each other) pods
// talk freely; every reach beyond it belongs to one workload's policy:
// Prometheus scrapes the whole cluster and the nodes, Alertmanager alone
// sends out (Slack and PagerDuty on 443, mail on 587), the API server calls
// the operator's webhook and the adapter's APIs, and each controller reads
// the API.
func networkPolicies(ctx *pulumi.Context, name string, a *Args, labels pulumi.StringMap, opts ...pulumi.ResourceOption) error {
	control, tcp := namespace.CIDRs(a.ControlPlaneCIDRs...), namespace.TCP
	inNamespace := networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{PodSelector: &metav1.LabelSelectorArgs{}}}
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-stack", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("monitoring"), Namespace: a.NamespaceReady, Labels: labels},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{namespace.From(inNamespace, nil)},
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{namespace.To(inNamespace, nil)},
		},
	}, opts...); err != nil {
		return err
	}
	api := namespace.To(control, tcp(443))
	inCluster := networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{NamespaceSelector: &metav1.LabelSelectorArgs{}}}
	for _, p := range []namespace.PodPolicy{
		{Name: "prometheus", Pods: prometheusPods, Egress: []*networkingv1.NetworkPolicyEgressRuleArgs{
			namespace.To(inCluster, nil), namespace.To(control, tcp(443, 10250)),
		}},
		{Name: "alertmanager", Pods: alertmanagerPods,
			Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(namespace.Namespaces(a.AlertNamespaces...), tcp(AlertmanagerPort))},
			Egress:  []*networkingv1.NetworkPolicyEgressRuleArgs{namespace.To(namespace.CIDRs("0.0.0.0/0"), tcp(443, 587))}},
		// Its dashboard sidecar reads ConfigMaps from the API.
		{Name: "grafana", Pods: grafanaPods, Egress: []*networkingv1.NetworkPolicyEgressRuleArgs{api}},
		{Name: "prometheus-operator", Pods: operatorPods,
			Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(control, tcp(10250))},
			Egress:  []*networkingv1.NetworkPolicyEgressRuleArgs{api}},
		{Name: "kube-state-metrics", Pods: stateMetricsPods, Egress: []*networkingv1.NetworkPolicyEgressRuleArgs{api}},
		{Name: "prometheus-adapter", Pods: adapterPods,
			Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(control, tcp(AdapterPort))},
			Egress:  []*networkingv1.NetworkPolicyEgressRuleArgs{api}},
	} {
		p.Namespace, p.Labels = a.NamespaceReady, labels
		if _, err := namespace.NewPodPolicy(ctx, name+"-"+p.Name, p, opts...); err != nil {
			return err
		}
	}
	return nil
}

// adapterProbe checks path on the adapter's HTTPS port.
func adapterProbe(path string) pulumi.Map {
	return pulumi.Map{
		"httpGet":             pulumi.Map{"path": pulumi.String(path), "port": pulumi.String("https"), "scheme": pulumi.String("HTTPS")},
		"initialDelaySeconds": pulumi.Int(30), "timeoutSeconds": pulumi.Int(5),
	}
}
