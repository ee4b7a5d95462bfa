// Package namespace provides the Namespace component: a Kubernetes namespace
// labelled for Pod Security Admission, closed by default-deny NetworkPolicies
// with DNS allowed, so that every workload in it starts from least privilege.
package namespace

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Pod Security Standards levels, as Pod Security Admission spells them.
const (
	Restricted = "restricted"
	Baseline   = "baseline"
	Privileged = "privileged"
)

// PodSecurity is the Pod Security Admission setting of a namespace. Enforce,
// warn and audit are all set to Level at the pinned Version.
type PodSecurity struct {
	// Level is restricted, baseline or privileged.
	Level string
	// Version pins the standard, for example "v1.33"; never "latest".
	Version string
	// Exception is the reason a namespace runs below restricted (for example
	// Falco's node agent). Required exactly when Level is not restricted, so
	// that every exception is named in code review.
	Exception string
}

// Args configures a Namespace.
type Args struct {
	// Name is the Kubernetes namespace name.
	Name string
	// PodSecurity sets the Pod Security Admission labels.
	PodSecurity PodSecurity
	// Labels are extra labels for the namespace (PSA labels win on conflict).
	Labels map[string]string
	// Quota caps what the namespace may request; nil sets none.
	Quota *Quota
	// Limits sets container defaults and maxima; nil sets none.
	Limits *Limits
}

// Quota is a ResourceQuota: totals across the namespace, as quantities.
type Quota struct {
	RequestsCPU, RequestsMemory, LimitsCPU, LimitsMemory string
	Pods                                                 int
	// GPUs caps nvidia.com/gpu requests; 0 forbids GPUs in the namespace.
	GPUs int
}

// Limits is a LimitRange for containers: the defaults a container without
// requests or limits gets, and the most one container may ask for.
type Limits struct {
	DefaultRequestCPU, DefaultRequestMemory string
	DefaultCPU, DefaultMemory               string
	MaxCPU, MaxMemory                       string
}

// Namespace is a namespace with Pod Security Admission labels and
// default-deny network policies.
type Namespace struct {
	pulumi.ResourceState

	// Name is the namespace name, resolved once the namespace exists, so that
	// resources placed in it wait for it.
	Name pulumi.StringOutput `pulumi:"name"`
}

// Names of the policies every namespace gets; other components refer to them.
const (
	DefaultDenyPolicy = "default-deny"
	AllowDNSPolicy    = "allow-dns"
)

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
var psaVersionRE = regexp.MustCompile(`^v1\.[0-9]+$`)

// Validate reports every problem with the arguments.
func (a *Args) Validate() error {
	var errs []error
	if len(a.Name) > 63 || !dnsLabelRE.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("name %q is not a DNS label (lower-case alphanumerics and '-', at most 63)", a.Name))
	}
	if a.Name == "default" || a.Name == "kube-system" || a.Name == "kube-public" {
		errs = append(errs, fmt.Errorf("name %q is reserved by Kubernetes", a.Name))
	}
	ps := a.PodSecurity
	switch ps.Level {
	case Restricted:
		if ps.Exception != "" {
			errs = append(errs, errors.New("podSecurity.exception given for a restricted namespace; remove it"))
		}
	case Baseline, Privileged:
		if ps.Exception == "" {
			errs = append(errs, fmt.Errorf("podSecurity.level %q needs podSecurity.exception: say why this namespace cannot be restricted", ps.Level))
		}
	default:
		errs = append(errs, fmt.Errorf("podSecurity.level %q is not one of restricted, baseline, privileged", ps.Level))
	}
	if !psaVersionRE.MatchString(ps.Version) {
		errs = append(errs, fmt.Errorf("podSecurity.version %q is not a pinned version like v1.33", ps.Version))
	}
	if q := a.Quota; q != nil {
		for field, v := range map[string]string{"requestsCPU": q.RequestsCPU, "requestsMemory": q.RequestsMemory, "limitsCPU": q.LimitsCPU, "limitsMemory": q.LimitsMemory} {
			errs = append(errs, positiveQuantity("quota."+field, v))
		}
		if q.Pods < 1 || q.GPUs < 0 {
			errs = append(errs, fmt.Errorf("quota.pods %d must be positive and quota.gpus %d not negative", q.Pods, q.GPUs))
		}
	}
	if l := a.Limits; l != nil {
		for field, v := range map[string]string{
			"defaultRequestCPU": l.DefaultRequestCPU, "defaultRequestMemory": l.DefaultRequestMemory,
			"defaultCPU": l.DefaultCPU, "defaultMemory": l.DefaultMemory, "maxCPU": l.MaxCPU, "maxMemory": l.MaxMemory,
		} {
			errs = append(errs, positiveQuantity("limits."+field, v))
		}
	}
	return errors.Join(errs...)
}

func positiveQuantity(field, v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("%s %q is not a positive quantity", field, v)
	}
	return nil
}

// Labels returns the namespace labels: the extra labels, the Kubernetes name
// label NetworkPolicies select namespaces by, and the Pod Security Admission
// labels for enforce, warn and audit.
func Labels(name string, ps PodSecurity, extra map[string]string) map[string]string {
	labels := make(map[string]string, len(extra)+8)
	for k, v := range extra {
		labels[k] = v
	}
	labels["kubernetes.io/metadata.name"] = name
	labels["app.kubernetes.io/part-of"] = "intelliflow"
	for _, mode := range []string{"enforce", "warn", "audit"} {
		labels["pod-security.kubernetes.io/"+mode] = ps.Level
		labels["pod-security.kubernetes.io/"+mode+"-version"] = ps.Version
	}
	return labels
}

// Annotations records a pod-security exception's reason on the namespace, so
// that it is visible on the cluster as well as in code.
func Annotations(ps PodSecurity) map[string]string {
	if ps.Exception == "" {
		return nil
	}
	return map[string]string{"intelliflow.io/pod-security-exception": ps.Exception}
}

// New creates a Namespace.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Namespace, error) {
	if args == nil {
		return nil, fmt.Errorf("namespace %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("namespace %q: %w", name, err)
	}
	ns := &Namespace{}
	if err := ctx.RegisterComponentResource("intelliflow:platform:Namespace", name, ns, opts...); err != nil {
		return nil, fmt.Errorf("namespace %q: %w", name, err)
	}
	parent := pulumi.Parent(ns)

	meta := &metav1.ObjectMetaArgs{
		Name:   pulumi.String(args.Name),
		Labels: pulumi.ToStringMap(Labels(args.Name, args.PodSecurity, args.Labels)),
	}
	if a := Annotations(args.PodSecurity); a != nil {
		meta.Annotations = pulumi.ToStringMap(a)
	}
	k8sNS, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{Metadata: meta}, parent)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: namespace: %w", name, err)
	}
	nsName := k8sNS.Metadata.Name().Elem()

	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-"+DefaultDenyPolicy, &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(DefaultDenyPolicy),
			Namespace: nsName,
		},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			// An empty selector selects every pod; no rules means nothing is allowed.
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		},
	}, parent); err != nil {
		return nil, fmt.Errorf("namespace %q: %s: %w", name, DefaultDenyPolicy, err)
	}

	dnsPort := func(protocol string) networkingv1.NetworkPolicyPortInput {
		return &networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String(protocol), Port: pulumi.Int(53)}
	}
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-"+AllowDNSPolicy, &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(AllowDNSPolicy),
			Namespace: nsName,
		},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Egress")},
			Egress: networkingv1.NetworkPolicyEgressRuleArray{&networkingv1.NetworkPolicyEgressRuleArgs{
				To: networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
					NamespaceSelector: &metav1.LabelSelectorArgs{
						MatchLabels: pulumi.StringMap{"kubernetes.io/metadata.name": pulumi.String("kube-system")},
					},
					PodSelector: &metav1.LabelSelectorArgs{
						MatchLabels: pulumi.StringMap{"k8s-app": pulumi.String("kube-dns")},
					},
				}},
				Ports: networkingv1.NetworkPolicyPortArray{dnsPort("UDP"), dnsPort("TCP")},
			}},
		},
	}, parent); err != nil {
		return nil, fmt.Errorf("namespace %q: %s: %w", name, AllowDNSPolicy, err)
	}

	if q := args.Quota; q != nil {
		if _, err := corev1.NewResourceQuota(ctx, name+"-quota", &corev1.ResourceQuotaArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("quota"), Namespace: nsName},
			Spec: &corev1.ResourceQuotaSpecArgs{Hard: pulumi.StringMap{
				"requests.cpu":            pulumi.String(q.RequestsCPU),
				"requests.memory":         pulumi.String(q.RequestsMemory),
				"limits.cpu":              pulumi.String(q.LimitsCPU),
				"limits.memory":           pulumi.String(q.LimitsMemory),
				"pods":                    pulumi.String(strconv.Itoa(q.Pods)),
				"requests.nvidia.com/gpu": pulumi.String(strconv.Itoa(q.GPUs)),
			}},
		}, parent); err != nil {
			return nil, fmt.Errorf("namespace %q: quota: %w", name, err)
		}
	}
	if l := args.Limits; l != nil {
		if _, err := corev1.NewLimitRange(ctx, name+"-limits", &corev1.LimitRangeArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("limits"), Namespace: nsName},
			Spec: &corev1.LimitRangeSpecArgs{Limits: corev1.LimitRangeItemArray{&corev1.LimitRangeItemArgs{
				Type:           pulumi.String("Container"),
				DefaultRequest: pulumi.StringMap{"cpu": pulumi.String(l.DefaultRequestCPU), "memory": pulumi.String(l.DefaultRequestMemory)},
				Default:        pulumi.StringMap{"cpu": pulumi.String(l.DefaultCPU), "memory": pulumi.String(l.DefaultMemory)},
				Max:            pulumi.StringMap{"cpu": pulumi.String(l.MaxCPU), "memory": pulumi.String(l.MaxMemory)},
			}}},
		}, parent); err != nil {
			return nil, fmt.Errorf("namespace %q: limits: %w", name, err)
		}
	}

	ns.Name = nsName
	if err := ctx.RegisterResourceOutputs(ns, pulumi.Map{"name": nsName}); err != nil {
		return nil, fmt.Errorf("namespace %q: outputs: %w", name, err)
	}
	return ns, nil
}
