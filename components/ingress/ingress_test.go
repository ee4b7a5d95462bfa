package ingress

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func gatewayArgs() *Args {
	return &Args{
		Namespace: pulumi.String("intelliflow-prod"), Service: "gateway", ServicePort: 80,
		Selector: map[string]string{"app.kubernetes.io/name": "gateway"}, TargetPort: "http",
		Host: "api.intelliflow.example", Paths: []string{"/api", "/auth"},
		ClusterIssuer: "letsencrypt-prod", RateLimitPerMinute: 1000,
		CORSOrigins:  []string{"https://app.intelliflow.example"},
		LoadBalancer: &LoadBalancer{CertificateARN: "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123", SourceRanges: []string{"0.0.0.0/0"}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *Args)
		want   string
	}{
		{"valid", func(*Args) {}, ""},
		{"no TLS issuer", func(a *Args) { a.ClusterIssuer = "" }, "TLS is required (NET-03)"},
		{"no rate limit", func(a *Args) { a.RateLimitPerMinute = 0 }, "RateLimitPerMinute: 0"},
		{"wildcard origin", func(a *Args) { a.CORSOrigins = []string{"*"} }, `CORSOrigins[0]: "*" is not an https origin`},
		{"http origin", func(a *Args) { a.CORSOrigins = []string{"http://app.example.com"} }, "is not an https origin"},
		{"bad host", func(a *Args) { a.Host = "localhost" }, `Host: "localhost" is not a DNS host name`},
		{"no paths", func(a *Args) { a.Paths = nil }, "route at least one path"},
		{"glob path", func(a *Args) { a.Paths = []string{"/api/*"} }, "not a plain absolute path prefix"},
		{"LB without certificate", func(a *Args) { a.LoadBalancer.CertificateARN = "" }, "must terminate TLS"},
		{"LB bad range", func(a *Args) { a.LoadBalancer.SourceRanges = []string{"everyone"} }, `"everyone" is not a CIDR`},
		{"zero port", func(a *Args) { a.ServicePort = 0 }, "ServicePort: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := gatewayArgs()
			tt.mutate(a)
			err := a.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "gateway", gatewayArgs())
		return err
	})
	require.NoError(t, err)

	ing, ok := mocks.Find("kubernetes:networking.k8s.io/v1:Ingress", "gateway-ingress")
	require.True(t, ok)
	require.Equal(t, "nginx", ing.Get("spec.ingressClassName"))
	require.Equal(t, []any{"api.intelliflow.example"}, ing.Get("spec.tls.0.hosts"))
	require.Equal(t, "gateway-tls", ing.Get("spec.tls.0.secretName"))
	require.Equal(t, "/api", ing.Get("spec.rules.0.http.paths.0.path"))
	require.Equal(t, "gateway", ing.Get("spec.rules.0.http.paths.1.backend.service.name"))
	ann := ing.Get("metadata.annotations").(map[string]any)
	require.Equal(t, "letsencrypt-prod", ann["cert-manager.io/cluster-issuer"])
	require.Equal(t, "1000", ann["nginx.ingress.kubernetes.io/limit-rpm"])
	require.Equal(t, "https://app.intelliflow.example", ann["nginx.ingress.kubernetes.io/cors-allow-origin"])
	require.Equal(t, "intelliflow-prod/gateway-security-headers", ann["nginx.ingress.kubernetes.io/custom-headers"])

	headers, ok := mocks.Find("kubernetes:core/v1:ConfigMap", "gateway-security-headers")
	require.True(t, ok)
	require.Equal(t, "nosniff", headers.Get("data.X-Content-Type-Options"))
	require.Equal(t, "DENY", headers.Get("data.X-Frame-Options"))

	lb, ok := mocks.Find("kubernetes:core/v1:Service", "gateway-nlb")
	require.True(t, ok)
	require.Equal(t, "LoadBalancer", lb.Get("spec.type"))
	require.Equal(t, 443.0, lb.Get("spec.ports.0.port"))
	lbAnn := lb.Get("metadata.annotations").(map[string]any)
	require.Equal(t, TLSPolicy, lbAnn["service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy"])
	require.Equal(t, "443", lbAnn["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"])
}

func TestNoLoadBalancerUnlessAsked(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		a := gatewayArgs()
		a.LoadBalancer = nil
		a.CORSOrigins = nil
		_, err := New(ctx, "gateway", a)
		return err
	})
	require.NoError(t, err)
	require.Empty(t, mocks.OfType("kubernetes:core/v1:Service"))
	ing, _ := mocks.Find("kubernetes:networking.k8s.io/v1:Ingress", "gateway-ingress")
	require.NotContains(t, ing.Get("metadata.annotations").(map[string]any), "nginx.ingress.kubernetes.io/enable-cors")
}
