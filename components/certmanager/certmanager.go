// Package certmanager provides the CertManager component: cert-manager from
// its official chart (pinned, images from the platform's mirror) and the
// ClusterIssuers every certificate of the platform names: the internal CA
// (Vault, Elasticsearch, Logstash, Filebeat) and the ACME issuers of the
// public API, which answer DNS-01 challenges in Route 53.
package certmanager

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/components/chart"
	"github.com/intelliflow/platform/components/namespace"
	"github.com/intelliflow/platform/components/servicemonitor"
)

// ChartVersion pins the official chart (its app version is the same).
const ChartVersion = "v1.18.2"

// ServiceAccount is the controller's account; its IRSA role may write the
// DNS-01 challenge records.
const ServiceAccount = "cert-manager"

// MetricsPort is where the controller serves Prometheus metrics. The
// Service port's name changed between releases; its number did not.
const MetricsPort = 9402

// Issuer names the platform uses.
const (
	InternalCA       = "intelliflow-internal-ca"
	LetsEncryptStage = "letsencrypt-staging"
	LetsEncryptProd  = "letsencrypt-prod"
	selfSigned       = "intelliflow-selfsigned-root"
	rootSecret       = "intelliflow-internal-root"
)

// acmeDirectories are the ACME servers of the two public issuers: the
// staging one for the staging stack (its certificates are not trusted, its
// rate limits are generous), the production one for prod.
var acmeDirectories = map[string]string{
	LetsEncryptStage: "https://acme-staging-v02.api.letsencrypt.org/directory",
	LetsEncryptProd:  "https://acme-v02.api.letsencrypt.org/directory",
}

// ACME is the public issuers' configuration.
type ACME struct {
	// Email is the account's contact for expiry and policy mail.
	Email string
	// Region and HostedZoneID locate the public Route 53 zone the
	// challenge records go in; Zone is its name, for the solver's selector.
	Region       string
	HostedZoneID pulumi.StringInput
	Zone         string
	// RoleARN is the controller's IRSA role, allowed to write only
	// _acme-challenge TXT records in that zone.
	RoleARN pulumi.StringInput
}

// Args configures cert-manager.
type Args struct {
	// Namespace is cert-manager's own namespace (an input, so the chart
	// waits for it); NamespaceName is the same name, known now.
	Namespace     pulumi.StringInput
	NamespaceName string
	// ChartRepository is where charts are mirrored; ImageRegistry where
	// the chart's images are.
	ChartRepository, ImageRegistry string
	// Replicas of the controller, webhook and CA injector (leader-elected;
	// the spares take over within seconds).
	Replicas int
	// ControlPlaneCIDRs are where the API server calls the webhook from and
	// where the components reach the API (on EKS, the VPC).
	ControlPlaneCIDRs []string
	// MonitoringNamespace runs Prometheus.
	MonitoringNamespace string
	// ACME configures the public issuers; nil for none.
	ACME *ACME
}

var (
	labelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	zoneRE  = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(format string, v ...any) { errs = append(errs, fmt.Errorf(format, v...)) }
	if a.Namespace == nil || !labelRE.MatchString(a.NamespaceName) || !labelRE.MatchString(a.MonitoringNamespace) {
		bad("Namespace, NamespaceName and MonitoringNamespace are required")
	}
	if err := chart.ValidRepository(a.ChartRepository); err != nil {
		bad("ChartRepository: %v", err)
	}
	if a.ImageRegistry == "" {
		bad("ImageRegistry is required")
	}
	if a.Replicas < 1 {
		bad("Replicas %d, want at least 1", a.Replicas)
	}
	if len(a.ControlPlaneCIDRs) == 0 {
		bad("ControlPlaneCIDRs: name where the API server calls the webhook from")
	}
	if m := a.ACME; m != nil {
		if addr, err := mail.ParseAddress(m.Email); err != nil || addr.Address != m.Email {
			bad("ACME.Email %q is not a mail address", m.Email)
		}
		if m.Region == "" || m.HostedZoneID == nil || m.RoleARN == nil {
			bad("ACME: Region, HostedZoneID and RoleARN are required")
		}
		if !zoneRE.MatchString(m.Zone) {
			bad("ACME.Zone %q is not a DNS zone name", m.Zone)
		}
	}
	return errors.Join(errs...)
}

// Values are the chart values: CRDs with the release (kept on uninstall,
// or every Certificate would go with them), our mirror's images, every
// component replicated with a budget, leader election in our namespace
// instead of kube-system, the pre-flight Job off (the engine waits for the
// webhook itself), and the controller's IRSA role.
func (a *Args) Values() pulumi.Map {
	reg := strings.TrimSuffix(a.ImageRegistry, "/") + "/jetstack/"
	image := func(name string) pulumi.Map {
		return pulumi.Map{"repository": pulumi.String(reg + name)}
	}
	budget := pulumi.Map{"enabled": pulumi.Bool(a.Replicas > 1), "maxUnavailable": pulumi.Int(1)}
	sa := pulumi.Map{"create": pulumi.Bool(true), "name": pulumi.String(ServiceAccount)}
	if a.ACME != nil {
		sa["annotations"] = pulumi.StringMap{"eks.amazonaws.com/role-arn": a.ACME.RoleARN}
	}
	return pulumi.Map{
		"crds":   pulumi.Map{"enabled": pulumi.Bool(true), "keep": pulumi.Bool(true)},
		"global": pulumi.Map{"leaderElection": pulumi.Map{"namespace": pulumi.String(a.NamespaceName)}},
		"image":  image("cert-manager-controller"), "replicaCount": pulumi.Int(a.Replicas),
		"podDisruptionBudget": budget, "resources": chart.Resources("50m", "256Mi"),
		"serviceAccount": sa, "podAnnotations": chart.CallsAPI(),
		"webhook": pulumi.Map{
			"image": image("cert-manager-webhook"), "replicaCount": pulumi.Int(a.Replicas),
			"podDisruptionBudget": budget, "resources": chart.Resources("20m", "64Mi"),
			"podAnnotations": chart.CallsAPI(),
		},
		"cainjector": pulumi.Map{
			"image": image("cert-manager-cainjector"), "replicaCount": pulumi.Int(a.Replicas),
			"podDisruptionBudget": budget, "resources": chart.Resources("20m", "256Mi"),
			"podAnnotations": chart.CallsAPI(),
		},
		"acmesolver":      pulumi.Map{"image": image("cert-manager-acmesolver")},
		"startupapicheck": pulumi.Map{"enabled": pulumi.Bool(false)},
		// We scrape it with our own ServiceMonitor, by port number.
		"prometheus": pulumi.Map{"enabled": pulumi.Bool(true), "servicemonitor": pulumi.Map{"enabled": pulumi.Bool(false)}},
	}
}

// IssuerSpec is the spec of the ACME ClusterIssuer name: DNS-01 through
// Route 53 with the controller's ambient IRSA credentials, for the zone only.
func (m *ACME) IssuerSpec(name string) (map[string]any, error) {
	server, ok := acmeDirectories[name]
	if !ok {
		return nil, fmt.Errorf("no ACME directory for issuer %q", name)
	}
	return map[string]any{"acme": map[string]any{
		"server":              server,
		"email":               m.Email,
		"privateKeySecretRef": map[string]any{"name": name + "-account"},
		"solvers": []any{map[string]any{
			"selector": map[string]any{"dnsZones": []any{m.Zone}},
			"dns01": map[string]any{"route53": map[string]any{
				"region": m.Region, "hostedZoneID": m.HostedZoneID,
			}},
		}},
	}}, nil
}

// CertManager is the installed controller with the platform's issuers.
type CertManager struct {
	pulumi.ResourceState
	// Issuers by name, for certificates to wait on.
	Issuers map[string]pulumi.Resource
}

// New installs the chart, the network policies, the ServiceMonitor and the
// issuers.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*CertManager, error) {
	if args == nil {
		return nil, fmt.Errorf("cert-manager %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("cert-manager %q: %w", name, err)
	}
	c := &CertManager{Issuers: map[string]pulumi.Resource{}}
	if err := ctx.RegisterComponentResource("intelliflow:kubernetes:CertManager", name, c, opts...); err != nil {
		return nil, fmt.Errorf("cert-manager %q: %w", name, err)
	}
	parent := pulumi.Parent(c)
	wrap := func(child string, err error) error { return fmt.Errorf("cert-manager %q: %s: %w", name, child, err) }

	if err := networkPolicies(ctx, name, args, parent); err != nil {
		return nil, wrap("network policy", err)
	}
	release, err := chart.New(ctx, name, chart.Args{
		Chart:      "cert-manager",
		Version:    ChartVersion,
		Namespace:  args.Namespace,
		Repository: args.ChartRepository,
		Values:     args.Values(),
	}, parent)
	if err != nil {
		return nil, wrap("chart", err)
	}
	if _, err := servicemonitor.New(ctx, name+"-monitor", &servicemonitor.Args{
		Name: "cert-manager", Namespace: pulumi.String(args.MonitoringNamespace), TargetNamespace: args.NamespaceName,
		Selector:  map[string]string{"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
		Endpoints: []servicemonitor.Endpoint{{PortNumber: MetricsPort}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{release})); err != nil {
		return nil, wrap("service monitor", err)
	}

	afterChart := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{release})}
	issuer := func(issuerName string, spec map[string]any, extra ...pulumi.ResourceOption) (pulumi.Resource, error) {
		r, err := apiextensions.NewCustomResource(ctx, name+"-"+issuerName, &apiextensions.CustomResourceArgs{
			ApiVersion:  pulumi.String("cert-manager.io/v1"),
			Kind:        pulumi.String("ClusterIssuer"),
			Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(issuerName)},
			OtherFields: kubernetes.UntypedArgs{"spec": spec},
		}, append(afterChart, extra...)...)
		if err != nil {
			return nil, wrap("issuer "+issuerName, err)
		}
		return r, nil
	}

	// The internal CA: a self-signed root whose key stays in cert-manager's
	// namespace, and the CA issuer that signs with it.
	root, err := issuer(selfSigned, map[string]any{"selfSigned": map[string]any{}})
	if err != nil {
		return nil, err
	}
	rootCert, err := apiextensions.NewCustomResource(ctx, name+"-root", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(rootSecret), Namespace: args.Namespace},
		OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{
			"isCA": true, "commonName": "IntelliFlow internal root CA", "secretName": rootSecret,
			"duration": "87600h", "renewBefore": "720h",
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": 384, "rotationPolicy": "Never"},
			"issuerRef":  map[string]any{"kind": "ClusterIssuer", "name": selfSigned, "group": "cert-manager.io"},
		}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{root}))
	if err != nil {
		return nil, wrap("root certificate", err)
	}
	if c.Issuers[InternalCA], err = issuer(InternalCA, map[string]any{"ca": map[string]any{"secretName": rootSecret}}, pulumi.DependsOn([]pulumi.Resource{rootCert})); err != nil {
		return nil, err
	}
	if m := args.ACME; m != nil {
		for _, n := range []string{LetsEncryptStage, LetsEncryptProd} {
			spec, err := m.IssuerSpec(n)
			if err != nil {
				return nil, wrap("issuer "+n, err)
			}
			if c.Issuers[n], err = issuer(n, spec); err != nil {
				return nil, err
			}
		}
	}
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{}); err != nil {
		return nil, wrap("outputs", err)
	}
	return c, nil
}

// networkPolicies open the namespace's default-deny for exactly what
// cert-manager does: the API server calls the webhook, every component
// calls the API, Prometheus scrapes the controller, and the controller
// reaches the ACME server and Route 53 (public HTTPS) and checks the
// challenge record with public DNS.
func networkPolicies(ctx *pulumi.Context, name string, a *Args, opts ...pulumi.ResourceOption) error {
	cidrs, tcp := namespace.CIDRs(a.ControlPlaneCIDRs...), namespace.TCP
	policy := func(suffix string, selector map[string]string, p namespace.PodPolicy) error {
		p.Name, p.Namespace, p.Pods = "cert-manager-"+suffix, a.Namespace, selector
		_, err := namespace.NewPodPolicy(ctx, name+"-"+suffix, p, opts...)
		return err
	}
	instance := map[string]string{"app.kubernetes.io/instance": name}
	if err := policy("api", instance, namespace.PodPolicy{
		Egress: []*networkingv1.NetworkPolicyEgressRuleArgs{namespace.To(cidrs, tcp(443))},
	}); err != nil {
		return err
	}
	if err := policy("webhook", map[string]string{"app.kubernetes.io/component": "webhook"}, namespace.PodPolicy{
		Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(cidrs, tcp(10250))},
	}); err != nil {
		return err
	}
	controller := map[string]string{"app.kubernetes.io/component": "controller"}
	internet := namespace.CIDRs("0.0.0.0/0")
	var egress []*networkingv1.NetworkPolicyEgressRuleArgs
	if a.ACME != nil {
		egress = append(egress,
			namespace.To(internet, tcp(443)),
			// The self-check asks the zone's authoritative servers.
			namespace.To(internet, networkingv1.NetworkPolicyPortArray{
				&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("UDP"), Port: pulumi.Int(53)},
				&networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.Int(53)},
			}),
		)
	}
	return policy("controller", controller, namespace.PodPolicy{
		Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{namespace.From(namespace.Namespaces(a.MonitoringNamespace), tcp(MetricsPort))},
		Egress:  egress,
	})
}
