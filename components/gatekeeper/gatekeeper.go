// Package gatekeeper provides the Gatekeeper component: OPA Gatekeeper from
// its official chart (pinned, images from the platform's mirror), our
// ConstraintTemplates (Rego in policies/, tested with OPA), and one
// Constraint per template. It is the in-cluster half of the policy pack:
// the pack stops unsafe objects at preview, Gatekeeper stops them at
// admission, whoever applies them.
package gatekeeper

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/namespace"
)

// ChartVersion pins the official chart; AppVersion is its Gatekeeper.
const (
	ChartVersion = "3.20.0"
	AppVersion   = "v3.20.0"
)

// Args configures Gatekeeper.
type Args struct {
	// Namespace is Gatekeeper's own namespace (created by the caller,
	// restricted); it is exempt from the constraints so Gatekeeper can
	// always restart itself.
	Namespace pulumi.StringInput
	// NamespaceName is the same name, known now, for the exemptions.
	NamespaceName string
	// ChartRepository is where charts are mirrored.
	ChartRepository string
	// ImageRegistry is the registry the chart's images are mirrored to.
	ImageRegistry string
	// AllowedRegistries feed the registry constraint (SEC-18).
	AllowedRegistries []string
	// ExemptNamespaces are not checked: kube-system and Gatekeeper's own
	// namespace always; node agents' namespaces with a named exception.
	ExemptNamespaces []string
	// Exceptions skip one constraint in one namespace each, with the
	// reason (the pack's named exception for the same workload).
	Exceptions []Exception
	// Replicas of the admission webhook (3 in prod for the PDB to hold).
	Replicas int
	// ControlPlaneCIDRs are where the API server calls the webhook from and
	// where Gatekeeper reaches the API (on EKS, the VPC).
	ControlPlaneCIDRs []string
	// EnforcementAction is deny (refuse) or warn (admit, warn the client).
	EnforcementAction string
}

// Exception is one constraint kind a namespace is not checked for.
type Exception struct {
	Kind, Namespace, Reason string
}

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	for _, e := range a.Exceptions {
		if !slices.ContainsFunc(Templates, func(t Template) bool { return t.Kind == e.Kind }) || e.Namespace == "" || len(e.Reason) < 40 {
			bad("Exceptions: %q in %q needs a constraint kind of ours, a namespace and a reason", e.Kind, e.Namespace)
		}
	}
	if a.Namespace == nil || a.NamespaceName == "" {
		bad("Namespace and NamespaceName are required")
	}
	if err := chart.ValidRepository(a.ChartRepository); err != nil {
		bad("ChartRepository: %v", err)
	}
	if a.ImageRegistry == "" || !slices.Contains(a.AllowedRegistries, a.ImageRegistry) {
		bad("ImageRegistry %q must be one of AllowedRegistries %v, or Gatekeeper would refuse itself", a.ImageRegistry, a.AllowedRegistries)
	}
	if a.Replicas < 1 {
		bad("Replicas %d, want at least 1", a.Replicas)
	}
	if len(a.ControlPlaneCIDRs) == 0 {
		bad("ControlPlaneCIDRs: name where the API server calls the webhook from")
	}
	if a.EnforcementAction != "deny" && a.EnforcementAction != "warn" {
		bad("EnforcementAction %q, want deny or warn", a.EnforcementAction)
	}
	return errors.Join(errs...)
}

// ExemptFrom is every namespace the constraint of kind skips: the exempt
// ones and its exceptions'.
func (a *Args) ExemptFrom(kind string) []string {
	out := a.Exempt()
	for _, e := range a.Exceptions {
		if e.Kind == kind && !slices.Contains(out, e.Namespace) {
			out = append(out, e.Namespace)
		}
	}
	return out
}

// Exempt is every namespace all the constraints skip.
func (a *Args) Exempt() []string {
	out := []string{"kube-system", a.NamespaceName}
	for _, n := range a.ExemptNamespaces {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Values are the chart values: HA webhook that fails closed, our mirror's
// images, the namespace-labelling and webhook-probe hooks off (they run
// third-party images and rewrite namespace labels we own), denials logged.
func (a *Args) Values() pulumi.Map {
	reg := strings.TrimSuffix(a.ImageRegistry, "/")
	exempt := pulumi.Array{}
	for _, n := range a.Exempt() {
		exempt = append(exempt, pulumi.String(n))
	}
	return pulumi.Map{
		"replicas":                           pulumi.Int(a.Replicas),
		"auditInterval":                      pulumi.Int(60),
		"constraintViolationsLimit":          pulumi.Int(100),
		"logDenies":                          pulumi.Bool(true),
		"validatingWebhookFailurePolicy":     pulumi.String("Fail"),
		"validatingWebhookTimeoutSeconds":    pulumi.Int(5),
		"enableRuntimeDefaultSeccompProfile": pulumi.Bool(true),
		// The webhook and audit read every object they judge.
		"podAnnotations": chart.CallsAPI(),
		"image": pulumi.Map{
			"repository":    pulumi.String(reg + "/openpolicyagent/gatekeeper"),
			"crdRepository": pulumi.String(reg + "/openpolicyagent/gatekeeper-crds"),
			"release":       pulumi.String(AppVersion),
		},
		"postInstall": pulumi.Map{
			"labelNamespace": pulumi.Map{"enabled": pulumi.Bool(false)},
			"probeWebhook":   pulumi.Map{"enabled": pulumi.Bool(false)},
		},
		"postUpgrade":  pulumi.Map{"labelNamespace": pulumi.Map{"enabled": pulumi.Bool(false)}},
		"preUninstall": pulumi.Map{"deleteWebhookConfigurations": pulumi.Map{"enabled": pulumi.Bool(false)}},
		"controllerManager": pulumi.Map{
			"exemptNamespaces": exempt,
			"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("100m"), "memory": pulumi.String("512Mi")},
				"limits":   pulumi.Map{"memory": pulumi.String("512Mi")},
			},
		},
		"audit": pulumi.Map{
			"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("100m"), "memory": pulumi.String("512Mi")},
				"limits":   pulumi.Map{"memory": pulumi.String("512Mi")},
			},
		},
		"pdb": pulumi.Map{"controllerManager": pulumi.Map{"minAvailable": pulumi.Int(max(1, a.Replicas-1))}},
	}
}

// Gatekeeper is the installed admission controller with our constraints.
type Gatekeeper struct {
	pulumi.ResourceState
}

// New installs the chart, the templates and the constraints.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Gatekeeper, error) {
	if args == nil {
		return nil, fmt.Errorf("gatekeeper %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("gatekeeper %q: %w", name, err)
	}
	lib, err := Lib()
	if err != nil {
		return nil, fmt.Errorf("gatekeeper %q: %w", name, err)
	}
	g := &Gatekeeper{}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:Gatekeeper", name, g, opts...); err != nil {
		return nil, fmt.Errorf("gatekeeper %q: %w", name, err)
	}
	parent := pulumi.Parent(g)
	wrap := func(child string, err error) error { return fmt.Errorf("gatekeeper %q: %s: %w", name, child, err) }

	// The webhook listens on 8443 for the API server and calls the API
	// itself on 443; metrics on 8888 for Prometheus. Everything else stays
	// denied by the namespace's default-deny.
	cidrPeers, port := namespace.CIDRs(args.ControlPlaneCIDRs...), namespace.TCP
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-webhook", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("gatekeeper"), Namespace: args.Namespace},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"gatekeeper.sh/system": pulumi.String("yes")}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{
				&networkingv1.NetworkPolicyIngressRuleArgs{From: cidrPeers, Ports: port(8443)},
				&networkingv1.NetworkPolicyIngressRuleArgs{
					From:  namespace.Namespaces("intelliflow-monitoring"),
					Ports: port(8888),
				},
			},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{To: cidrPeers, Ports: port(443)}},
		},
	}, parent); err != nil {
		return nil, wrap("network policy", err)
	}

	release, err := chart.New(ctx, name, chart.Args{
		Chart:      "gatekeeper",
		Version:    ChartVersion,
		Namespace:  args.Namespace,
		Repository: args.ChartRepository,
		Values:     args.Values(),
	}, parent)
	if err != nil {
		return nil, wrap("chart", err)
	}

	// Templates need the chart's CRD; constraints need their template's.
	for _, t := range Templates {
		src, err := t.Rego()
		if err != nil {
			return nil, wrap("template", err)
		}
		names := map[string]any{"kind": t.Kind}
		crd := map[string]any{"spec": map[string]any{"names": names}}
		if t.Schema != nil {
			crd["spec"].(map[string]any)["validation"] = map[string]any{"openAPIV3Schema": t.Schema}
		}
		tmpl, err := apiextensions.NewCustomResource(ctx, name+"-"+t.Name(), &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String("templates.gatekeeper.sh/v1"),
			Kind:       pulumi.String("ConstraintTemplate"),
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(t.Name()), Labels: pulumi.StringMap{"intelliflow.io/rule": pulumi.String(t.Rule)}},
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
				"crd": crd,
				// Rego v1 through the code block: the legacy rego field is
				// read as v0, and Gatekeeper's rewriter refuses the
				// `import rego.v1` that would make v1 sources mean the same
				// there (gator found it; only data.lib and future.keywords
				// imports pass).
				"targets": []any{map[string]any{
					"target": "admission.k8s.gatekeeper.sh",
					"code": []any{map[string]any{
						"engine": "Rego",
						"source": map[string]any{"version": "v1", "rego": src, "libs": []any{lib}},
					}},
				}},
			}},
		}, parent, pulumi.DependsOn([]pulumi.Resource{release}))
		if err != nil {
			return nil, wrap("template "+t.Kind, err)
		}
		match := map[string]any{"kinds": anySlice(t.MatchKinds()), "excludedNamespaces": anySlice(args.ExemptFrom(t.Kind))}
		spec := map[string]any{"enforcementAction": args.EnforcementAction, "match": match}
		if p := t.Parameters(args.AllowedRegistries); p != nil {
			spec["parameters"] = p
		}
		if _, err := apiextensions.NewCustomResource(ctx, name+"-"+t.Name()+"-constraint", &apiextensions.CustomResourceArgs{
			// Gatekeeper serves constraints at v1beta1, its stable version.
			ApiVersion:  pulumi.String("constraints.gatekeeper.sh/v1beta1"),
			Kind:        pulumi.String(t.Kind),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String("intelliflow-" + strings.TrimPrefix(t.Name(), "intelliflow")), Labels: pulumi.StringMap{"intelliflow.io/rule": pulumi.String(t.Rule)}},
			OtherFields: kubernetes.UntypedArgs{"spec": spec},
		}, parent, pulumi.DependsOn([]pulumi.Resource{tmpl})); err != nil {
			return nil, wrap("constraint "+t.Kind, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return g, nil
}

func anySlice[T any](in []T) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}
