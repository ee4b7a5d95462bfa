// Package falco provides the Falco component: runtime detection on every
// node from Falco's official chart (pinned, images and artifacts from the
// platform's mirrors, the modern eBPF driver with capabilities instead of a
// privileged container), our own rules for the platform (rules/), and alerts
// through Falcosidekick to Alertmanager. Falco reads host syscalls, so its
// namespace runs below the restricted Pod Security level and its DaemonSet
// is a named exception in the policy pack (policy/exceptions).
package falco

import (
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/namespace"
)

// Pinned versions: the chart and the Falco it ships; the container plugin
// and the default rules artifact falcoctl installs from the mirror.
const (
	ChartVersion     = "9.1.0"
	AppVersion       = "0.44.1"
	ContainerPlugin  = "container:0.6.1"
	DefaultRulesFile = "falco-rules:5"
)

// Release is the chart's release name: the DaemonSet is called this, in
// Namespace, so its Pulumi name is "<Release>:<Namespace>/<Release>".
const Release = "falco"

// Namespace is where Falco runs.
const Namespace = "falco"

// SidekickName is Falcosidekick's Deployment, as the chart names it.
const SidekickName = Release + "-falcosidekick"

// DaemonSetName is the Pulumi name of the chart's DaemonSet, which the
// policy exceptions refer to.
const DaemonSetName = Release + ":" + Namespace + "/" + Release

// NamespaceException is why Falco's namespace runs below restricted.
const NamespaceException = "Falco's node agents load an eBPF probe (BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE) and read /proc and the container runtime socket from the host to watch every container's syscalls"

// RulesFile is the key our rules have in the chart's customRules.
const RulesFile = "intelliflow_rules.yaml"

//go:embed rules/intelliflow_rules.yaml
var ourRules string

// Args configures Falco.
type Args struct {
	// NamespaceReady orders everything after the namespace.
	NamespaceReady pulumi.StringInput
	// ChartRepository and ImageRegistry are the platform's mirrors.
	ChartRepository, ImageRegistry string
	// ArtifactIndex is the falcoctl index the mirror serves (rules and
	// plugins); nothing is fetched from the internet.
	ArtifactIndex string
	// AllowedNetworks are where the payment path may connect (the VPC,
	// the cluster's services); anything else raises a critical alert.
	AllowedNetworks []string
	// Alertmanager is the URL Falcosidekick posts alerts to.
	Alertmanager string
	// MonitoringNamespace scrapes Falco's metrics.
	MonitoringNamespace string
	// TolerateTaints lets Falco onto tainted nodes (the GPU group): an
	// unwatched node is a blind spot.
	TolerateTaints []string
}

var urlRE = regexp.MustCompile(`^(https?|oci)://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._/-]*)?$`)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if a.NamespaceReady == nil {
		bad("NamespaceReady is required")
	}
	if err := chart.ValidRepository(a.ChartRepository); err != nil {
		bad("ChartRepository: %v", err)
	}
	for field, u := range map[string]string{"ArtifactIndex": a.ArtifactIndex, "Alertmanager": a.Alertmanager} {
		if !urlRE.MatchString(u) {
			bad("%s %q is not a URL", field, u)
		}
	}
	if a.ImageRegistry == "" {
		bad("ImageRegistry is required")
	}
	if len(a.AllowedNetworks) == 0 {
		bad("AllowedNetworks: name the VPC and service networks")
	}
	for i, c := range a.AllowedNetworks {
		if p, err := netip.ParsePrefix(c); err != nil || p.Bits() == 0 {
			bad("AllowedNetworks[%d] %q is not a CIDR narrower than the internet", i, c)
		}
	}
	if a.MonitoringNamespace == "" {
		bad("MonitoringNamespace is required")
	}
	return errors.Join(errs...)
}

// Rules is our rules file with the allowed networks list prepended, as
// Falco needs lists defined before the rules that use them.
func Rules(allowedNetworks []string) (string, error) {
	list := []map[string]any{{"list": "intelliflow_allowed_networks", "items": allowedNetworks}}
	b, err := yaml.Marshal(list)
	if err != nil {
		return "", err
	}
	return "# Generated from the stack: where the payment path may connect.\n" + string(b) + "\n" + ourRules, nil
}

// Values are the chart values.
func (a *Args) Values() (pulumi.Map, error) {
	custom, err := Rules(a.AllowedNetworks)
	if err != nil {
		return nil, err
	}
	reg := strings.TrimSuffix(a.ImageRegistry, "/")
	tolerations := pulumi.Array{}
	for _, t := range a.TolerateTaints {
		tolerations = append(tolerations, pulumi.Map{"key": pulumi.String(t), "operator": pulumi.String("Exists"), "effect": pulumi.String("NoSchedule")})
	}
	return pulumi.Map{
		"image": pulumi.Map{"registry": pulumi.String(reg), "repository": pulumi.String("falcosecurity/falco"), "tag": pulumi.String(AppVersion)},
		// The modern eBPF probe ships in the Falco binary: no kernel module,
		// no loader init container, capabilities instead of privileged.
		"driver": pulumi.Map{
			"kind":       pulumi.String("modern_ebpf"),
			"modernEbpf": pulumi.Map{"leastPrivileged": pulumi.Bool(true)},
			"loader":     pulumi.Map{"enabled": pulumi.Bool(false)},
		},
		"tolerations": tolerations,
		"resources": pulumi.Map{
			"requests": pulumi.Map{"cpu": pulumi.String("100m"), "memory": pulumi.String("512Mi")},
			"limits":   pulumi.Map{"cpu": pulumi.String("1"), "memory": pulumi.String("1Gi")},
		},
		"collectors": pulumi.Map{
			"containerEngine": pulumi.Map{"pluginRef": pulumi.String(reg + "/falcosecurity/plugins/plugin/" + ContainerPlugin)},
			"kubernetes":      pulumi.Map{"enabled": pulumi.Bool(false)},
		},
		// Rules change by pull request, not by a sidecar following updates.
		"falcoctl": pulumi.Map{
			"image": pulumi.Map{"registry": pulumi.String(reg)},
			"artifact": pulumi.Map{
				"install": pulumi.Map{"enabled": pulumi.Bool(true), "resources": chart.Resources("50m", "128Mi")},
				"follow":  pulumi.Map{"enabled": pulumi.Bool(false)},
			},
			"config": pulumi.Map{
				"indexes": pulumi.Array{pulumi.Map{"name": pulumi.String("intelliflow"), "url": pulumi.String(a.ArtifactIndex)}},
				"artifact": pulumi.Map{
					"allowedTypes": pulumi.ToStringArray([]string{"rulesfile", "plugin"}),
					"install":      pulumi.Map{"refs": pulumi.ToStringArray([]string{DefaultRulesFile, ContainerPlugin})},
				},
			},
		},
		"customRules": pulumi.Map{RulesFile: pulumi.String(custom)},
		"falco": pulumi.Map{
			"json_output":                  pulumi.Bool(true),
			"json_include_output_property": pulumi.Bool(true),
			"priority":                     pulumi.String("notice"),
			"http_output":                  pulumi.Map{"enabled": pulumi.Bool(true)},
		},
		"metrics": pulumi.Map{"enabled": pulumi.Bool(true), "interval": pulumi.String("15m")},
		"falcosidekick": pulumi.Map{
			"enabled": pulumi.Bool(true),
			"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
				"limits":   pulumi.Map{"memory": pulumi.String("128Mi")},
			},
			"image": pulumi.Map{"registry": pulumi.String(reg), "repository": pulumi.String("falcosecurity/falcosidekick")},
			// Restricted, as the image's user; it writes nothing.
			"podSecurityContext": chart.RestrictedPod(1234, 1234),
			"securityContext":    chart.RestrictedContainer(),
			"config": pulumi.Map{
				"alertmanager": pulumi.Map{"hostport": pulumi.String(a.Alertmanager), "minimumpriority": pulumi.String("warning")},
			},
		},
	}, nil
}

// Falco is the installed runtime detection.
type Falco struct {
	pulumi.ResourceState
}

// New installs the chart and the network policies Falco's pods need in a
// default-deny namespace.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Falco, error) {
	if args == nil {
		return nil, fmt.Errorf("falco %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("falco %q: %w", name, err)
	}
	values, err := args.Values()
	if err != nil {
		return nil, fmt.Errorf("falco %q: %w", name, err)
	}
	f := &Falco{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:Falco", name, f, opts...); err != nil {
		return nil, fmt.Errorf("falco %q: %w", name, err)
	}
	parent := pulumi.Parent(f)
	wrap := func(child string, err error) error { return fmt.Errorf("falco %q: %s: %w", name, child, err) }

	tcp, nsPeer := namespace.TCP, namespace.Namespaces
	policies := map[string]*networkingv1.NetworkPolicySpecArgs{
		// Falco posts alerts to Falcosidekick; Prometheus scrapes Falco.
		"falco": {
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("falco")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{From: nsPeer(args.MonitoringNamespace), Ports: tcp(8765)}},
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{To: nsPeer(Namespace), Ports: tcp(2801)}},
		},
		// Falcosidekick takes alerts from Falco and forwards them to
		// Alertmanager.
		"falcosidekick": {
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("falcosidekick")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{From: nsPeer(Namespace), Ports: tcp(2801)}},
			Egress:      networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{To: nsPeer(args.MonitoringNamespace), Ports: tcp(9093)}},
		},
	}
	for _, pn := range []string{"falco", "falcosidekick"} {
		if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-"+pn, &networkingv1.NetworkPolicyArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(pn), Namespace: args.NamespaceReady},
			Spec:     policies[pn],
		}, parent); err != nil {
			return nil, wrap("network policy "+pn, err)
		}
	}
	// Falcosidekick runs two replicas and its chart has no budget for
	// them; it never calls the API (its chart's Role is for a feature we
	// leave off) and the chart cannot say so.
	sidekick := map[string]string{"app.kubernetes.io/name": "falcosidekick", "app.kubernetes.io/instance": Release}
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name+"-falcosidekick", &policyv1.PodDisruptionBudgetArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(SidekickName), Namespace: args.NamespaceReady},
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable:             pulumi.Int(1),
			UnhealthyPodEvictionPolicy: pulumi.String("AlwaysAllow"),
			Selector:                   &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(sidekick)},
		},
	}, parent); err != nil {
		return nil, wrap("falcosidekick budget", err)
	}
	if _, err := chart.New(ctx, Release, chart.Args{
		Chart:      "falco",
		Version:    ChartVersion,
		Namespace:  args.NamespaceReady,
		Repository: args.ChartRepository,
		Values:     values,
		Tokenless:  []string{SidekickName},
	}, parent); err != nil {
		return nil, wrap("chart", err)
	}
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return f, nil
}
