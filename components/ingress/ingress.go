// Package ingress provides the PublicEntry component: how traffic from the
// internet reaches the API gateway. An NGINX Ingress terminates TLS with a
// cert-manager certificate and applies per-client rate limits, security
// headers and CORS; optionally an AWS Network Load Balancer exposes the
// gateway directly, TLS 1.2+ only.
package ingress

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args configures the public entry.
type Args struct {
	Namespace pulumi.StringInput
	// Service and ServicePort are the gateway's Service; Selector its pods
	// (for the load balancer) and TargetPort their named API port.
	Service     string
	ServicePort int
	Selector    map[string]string
	TargetPort  string
	// Host is the public DNS name.
	Host string
	// Paths are routed to the gateway; everything else gets a 404 from the
	// ingress controller. The gateway routes to the services itself, after
	// authentication: no path reaches a service around it.
	Paths []string
	// ClusterIssuer is the cert-manager ClusterIssuer that signs the TLS
	// certificate.
	ClusterIssuer string
	// IssuerReady is the issuer's resource where the stack creates it:
	// the Ingress (and so its certificate) waits for it.
	IssuerReady []pulumi.Resource
	// SkipAwait stops the engine waiting for the Ingress to get an address,
	// for a cluster with no ingress controller (the local control plane).
	SkipAwait bool
	// RateLimitPerMinute is the request budget per client address.
	RateLimitPerMinute int
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// LoadBalancer, when set, also exposes the gateway through an AWS NLB.
	LoadBalancer *LoadBalancer
}

// LoadBalancer is an AWS Network Load Balancer terminating TLS.
type LoadBalancer struct {
	// CertificateARN is the ACM certificate for the listener.
	CertificateARN string
	// SourceRanges limit who may connect; empty means anyone.
	SourceRanges []string
}

// TLSPolicy is the NLB listener policy: TLS 1.3 and 1.2 only (NET-03).
const TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// SecurityHeaders are the response headers every API response carries. The
// API serves JSON only, so the content security policy forbids everything a
// browser could load or frame. X-XSS-Protection is "0": the legacy filter
// is itself an attack surface, and the CSP does its job.
var SecurityHeaders = map[string]string{
	"X-Content-Type-Options":     "nosniff",
	"X-Frame-Options":            "DENY",
	"Referrer-Policy":            "strict-origin-when-cross-origin",
	"Content-Security-Policy":    "default-src 'none'; frame-ancestors 'none'",
	"Permissions-Policy":         "camera=(), microphone=(), geolocation=(), payment=()",
	"X-XSS-Protection":           "0",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// PublicEntry is the created entry.
type PublicEntry struct {
	pulumi.ResourceState

	// Host is the public host name.
	Host pulumi.StringOutput `pulumi:"host"`
}

var (
	hostRE   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	originRE = regexp.MustCompile(`^https://([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}(:[0-9]{1,5})?$`)
	arnRE    = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
)

// Validate reports every problem, naming the field.
func (a *Args) Validate() error {
	var errs []error
	bad := func(field, format string, v ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, v...)))
	}
	if a.Namespace == nil {
		bad("Namespace", "is required")
	}
	if !nameRE.MatchString(a.Service) {
		bad("Service", "%q is not a Service name", a.Service)
	}
	if a.ServicePort < 1 || a.ServicePort > 65535 {
		bad("ServicePort", "%d is not a port", a.ServicePort)
	}
	if !hostRE.MatchString(a.Host) {
		bad("Host", "%q is not a DNS host name", a.Host)
	}
	if len(a.Paths) == 0 {
		bad("Paths", "route at least one path to the gateway")
	}
	for i, p := range a.Paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " *?") {
			bad(fmt.Sprintf("Paths[%d]", i), "%q is not a plain absolute path prefix", p)
		}
	}
	if !nameRE.MatchString(a.ClusterIssuer) {
		bad("ClusterIssuer", "%q is not an issuer name; TLS is required (NET-03)", a.ClusterIssuer)
	}
	if a.RateLimitPerMinute < 1 {
		bad("RateLimitPerMinute", "%d; every client needs a budget", a.RateLimitPerMinute)
	}
	for i, o := range a.CORSOrigins {
		if !originRE.MatchString(o) {
			bad(fmt.Sprintf("CORSOrigins[%d]", i), "%q is not an https origin (no wildcards, no paths)", o)
		}
	}
	if lb := a.LoadBalancer; lb != nil {
		if !arnRE.MatchString(lb.CertificateARN) {
			bad("LoadBalancer.CertificateARN", "%q is not an ACM certificate ARN; the listener must terminate TLS", lb.CertificateARN)
		}
		for i, r := range lb.SourceRanges {
			if _, _, err := net.ParseCIDR(r); err != nil {
				bad(fmt.Sprintf("LoadBalancer.SourceRanges[%d]", i), "%q is not a CIDR", r)
			}
		}
		if len(a.Selector) == 0 || a.TargetPort == "" {
			bad("Selector/TargetPort", "are required with LoadBalancer")
		}
	}
	return errors.Join(errs...)
}

// Annotations are the NGINX and cert-manager settings of the Ingress.
func Annotations(a Args, headersConfigMap string) map[string]string {
	out := map[string]string{
		"cert-manager.io/cluster-issuer":                     a.ClusterIssuer,
		"nginx.ingress.kubernetes.io/ssl-redirect":           "true",
		"nginx.ingress.kubernetes.io/force-ssl-redirect":     "true",
		"nginx.ingress.kubernetes.io/limit-rpm":              strconv.Itoa(a.RateLimitPerMinute),
		"nginx.ingress.kubernetes.io/limit-burst-multiplier": "2",
		"nginx.ingress.kubernetes.io/proxy-body-size":        "1m",
		"nginx.ingress.kubernetes.io/custom-headers":         headersConfigMap,
	}
	if a.SkipAwait {
		out["pulumi.com/skipAwait"] = "true"
	}
	if len(a.CORSOrigins) > 0 {
		out["nginx.ingress.kubernetes.io/enable-cors"] = "true"
		out["nginx.ingress.kubernetes.io/cors-allow-origin"] = strings.Join(a.CORSOrigins, ", ")
		out["nginx.ingress.kubernetes.io/cors-allow-methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
		out["nginx.ingress.kubernetes.io/cors-allow-headers"] = "Authorization, Content-Type, X-Request-ID"
		out["nginx.ingress.kubernetes.io/cors-allow-credentials"] = "true"
		out["nginx.ingress.kubernetes.io/cors-max-age"] = "600"
	}
	return out
}

// LoadBalancerAnnotations configure the AWS Load Balancer Controller.
func LoadBalancerAnnotations(lb LoadBalancer) map[string]string {
	return map[string]string{
		"service.beta.kubernetes.io/aws-load-balancer-type":                   "external",
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type":        "ip",
		"service.beta.kubernetes.io/aws-load-balancer-scheme":                 "internet-facing",
		"service.beta.kubernetes.io/aws-load-balancer-ssl-cert":               lb.CertificateARN,
		"service.beta.kubernetes.io/aws-load-balancer-ssl-ports":              "443",
		"service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": TLSPolicy,
		"service.beta.kubernetes.io/aws-load-balancer-backend-protocol":       "tcp",
	}
}

// New creates the public entry.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*PublicEntry, error) {
	if args == nil {
		return nil, fmt.Errorf("public entry %q: args are required", name)
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("public entry %q: %w", name, err)
	}
	e := &PublicEntry{}
	if err := ctx.RegisterComponentResource("intelliflow:platform:PublicEntry", name, e, opts...); err != nil {
		return nil, fmt.Errorf("public entry %q: %w", name, err)
	}
	parent := pulumi.Parent(e)
	labels := pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow"), "app.kubernetes.io/component": pulumi.String("public-entry")}

	headersName := name + "-security-headers"
	headers, err := corev1.NewConfigMap(ctx, name+"-security-headers", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(headersName), Namespace: args.Namespace, Labels: labels},
		Data:     pulumi.ToStringMap(SecurityHeaders),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("public entry %q: headers: %w", name, err)
	}
	headersRef := pulumi.Sprintf("%s/%s", headers.Metadata.Namespace().Elem(), headersName)

	var paths networkingv1.HTTPIngressPathArray
	for _, p := range args.Paths {
		paths = append(paths, &networkingv1.HTTPIngressPathArgs{
			Path:     pulumi.String(p),
			PathType: pulumi.String("Prefix"),
			Backend: &networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
				Name: pulumi.String(args.Service),
				Port: &networkingv1.ServiceBackendPortArgs{Number: pulumi.Int(args.ServicePort)},
			}},
		})
	}
	annotations := headersRef.ApplyT(func(ref string) map[string]string { return Annotations(*args, ref) }).(pulumi.StringMapOutput)
	ing, err := networkingv1.NewIngress(ctx, name+"-ingress", &networkingv1.IngressArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: args.Namespace, Labels: labels, Annotations: annotations},
		Spec: &networkingv1.IngressSpecArgs{
			IngressClassName: pulumi.String("nginx"),
			Tls: networkingv1.IngressTLSArray{&networkingv1.IngressTLSArgs{
				Hosts:      pulumi.ToStringArray([]string{args.Host}),
				SecretName: pulumi.String(name + "-tls"),
			}},
			Rules: networkingv1.IngressRuleArray{&networkingv1.IngressRuleArgs{
				Host: pulumi.String(args.Host),
				Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: paths},
			}},
		},
	}, parent, pulumi.DependsOn(args.IssuerReady))
	if err != nil {
		return nil, fmt.Errorf("public entry %q: ingress: %w", name, err)
	}

	if lb := args.LoadBalancer; lb != nil {
		spec := &corev1.ServiceSpecArgs{
			Type:                  pulumi.String("LoadBalancer"),
			Selector:              pulumi.ToStringMap(args.Selector),
			ExternalTrafficPolicy: pulumi.String("Local"),
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("https"), Port: pulumi.Int(443), TargetPort: pulumi.String(args.TargetPort), Protocol: pulumi.String("TCP"),
			}},
		}
		if len(lb.SourceRanges) > 0 {
			spec.LoadBalancerSourceRanges = pulumi.ToStringArray(lb.SourceRanges)
		}
		if _, err := corev1.NewService(ctx, name+"-nlb", &corev1.ServiceArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name: pulumi.String(name + "-nlb"), Namespace: args.Namespace, Labels: labels,
				Annotations: pulumi.ToStringMap(LoadBalancerAnnotations(*lb)),
			},
			Spec: spec,
		}, parent); err != nil {
			return nil, fmt.Errorf("public entry %q: load balancer: %w", name, err)
		}
	}

	e.Host = ing.Spec.Rules().Index(pulumi.Int(0)).Host().Elem()
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{"host": e.Host}); err != nil {
		return nil, fmt.Errorf("public entry %q: outputs: %w", name, err)
	}
	return e, nil
}
