package namespace

import (
	"testing"

	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func restricted() PodSecurity { return PodSecurity{Level: Restricted, Version: "v1.33"} }

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		args Args
		want string // empty: valid
	}{
		{"restricted", Args{Name: "intelliflow-dev", PodSecurity: restricted()}, ""},
		{"privileged with a reason", Args{Name: "falco", PodSecurity: PodSecurity{Level: Privileged, Version: "v1.33", Exception: "Falco's node agent reads host syscalls"}}, ""},
		{"privileged without a reason", Args{Name: "falco", PodSecurity: PodSecurity{Level: Privileged, Version: "v1.33"}}, "needs podSecurity.exception"},
		{"reason on restricted", Args{Name: "a", PodSecurity: PodSecurity{Level: Restricted, Version: "v1.33", Exception: "x"}}, "exception given for a restricted"},
		{"unknown level", Args{Name: "a", PodSecurity: PodSecurity{Level: "strict", Version: "v1.33"}}, `"strict" is not one of`},
		{"latest version", Args{Name: "a", PodSecurity: PodSecurity{Level: Restricted, Version: "latest"}}, "not a pinned version"},
		{"upper case name", Args{Name: "Prod", PodSecurity: restricted()}, "not a DNS label"},
		{"too long", Args{Name: string(make([]byte, 64)), PodSecurity: restricted()}, "not a DNS label"},
		{"default namespace", Args{Name: "default", PodSecurity: restricted()}, "reserved"},
		{"bad quota", Args{Name: "a", PodSecurity: restricted(), Quota: &Quota{RequestsCPU: "lots", RequestsMemory: "1Gi", LimitsCPU: "1", LimitsMemory: "1Gi", Pods: 1}}, `quota.requestsCPU "lots" is not a positive quantity`},
		{"quota without pods", Args{Name: "a", PodSecurity: restricted(), Quota: &Quota{RequestsCPU: "1", RequestsMemory: "1Gi", LimitsCPU: "1", LimitsMemory: "1Gi"}}, "quota.pods 0 must be positive"},
		{"bad limits", Args{Name: "a", PodSecurity: restricted(), Limits: &Limits{DefaultRequestCPU: "0", DefaultRequestMemory: "1Mi", DefaultCPU: "1", DefaultMemory: "1Mi", MaxCPU: "1", MaxMemory: "1Mi"}}, `limits.defaultRequestCPU "0" is not a positive quantity`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.args.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestLabels(t *testing.T) {
	got := Labels("intelliflow-prod", restricted(), map[string]string{
		"team": "platform",
		// PSA labels are not overridable through extra labels.
		"pod-security.kubernetes.io/enforce": "privileged",
	})
	require.Equal(t, map[string]string{
		"team":                                       "platform",
		"kubernetes.io/metadata.name":                "intelliflow-prod",
		"app.kubernetes.io/part-of":                  "intelliflow",
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "v1.33",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/warn-version":    "v1.33",
		"pod-security.kubernetes.io/audit":           "restricted",
		"pod-security.kubernetes.io/audit-version":   "v1.33",
	}, got)
}

func TestNewRegistersNamespaceAndPolicies(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "security", &Args{
			Name:        "intelliflow-security",
			PodSecurity: PodSecurity{Level: Baseline, Version: "v1.33", Exception: "reason"},
		})
		return err
	})
	require.NoError(t, err)

	comp, ok := mocks.Find("intelliflow:platform:Namespace", "security")
	require.True(t, ok)
	require.False(t, comp.Custom)

	ns, ok := mocks.Find("kubernetes:core/v1:Namespace", "security")
	require.True(t, ok)
	require.Equal(t, "intelliflow-security", ns.Get("metadata.name"))
	require.Equal(t, "baseline", ns.Get("metadata.labels").(map[string]any)["pod-security.kubernetes.io/enforce"])
	require.Equal(t, "reason", ns.Get("metadata.annotations").(map[string]any)["intelliflow.io/pod-security-exception"])

	deny, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "security-default-deny")
	require.True(t, ok)
	require.Equal(t, "intelliflow-security", deny.Get("metadata.namespace"))
	require.Equal(t, map[string]any{}, deny.Get("spec.podSelector"))
	require.Equal(t, []any{"Ingress", "Egress"}, deny.Get("spec.policyTypes"))
	require.Nil(t, deny.Get("spec.ingress"))
	require.Nil(t, deny.Get("spec.egress"))

	dns, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "security-allow-dns")
	require.True(t, ok)
	require.Equal(t, []any{"Egress"}, dns.Get("spec.policyTypes"))
	require.Equal(t, "kube-dns", dns.Get("spec.egress.0.to.0.podSelector.matchLabels.k8s-app"))
	require.Equal(t, 53.0, dns.Get("spec.egress.0.ports.0.port"))
	require.Equal(t, "UDP", dns.Get("spec.egress.0.ports.0.protocol"))
	require.Equal(t, "TCP", dns.Get("spec.egress.0.ports.1.protocol"))

	// Every child hangs off the component.
	for _, r := range mocks.Resources() {
		if r.Custom {
			require.Contains(t, r.Parent, "intelliflow:platform:Namespace::security", r.Name)
		}
	}
}

func TestNewRejectsBadArgsBeforeRegistering(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "bad", &Args{Name: "bad", PodSecurity: PodSecurity{Level: Privileged, Version: "v1.33"}})
		return err
	})
	require.ErrorContains(t, err, `namespace "bad": podSecurity.level "privileged" needs podSecurity.exception`)
	require.Empty(t, mocks.Resources())

	_, err = pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "nil", nil)
		return err
	})
	require.ErrorContains(t, err, "args are required")
}

func TestQuotaAndLimits(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "prod", &Args{
			Name: "intelliflow-prod", PodSecurity: restricted(),
			Quota:  &Quota{RequestsCPU: "100", RequestsMemory: "200Gi", LimitsCPU: "300", LimitsMemory: "400Gi", Pods: 250, GPUs: 15},
			Limits: &Limits{DefaultRequestCPU: "100m", DefaultRequestMemory: "128Mi", DefaultCPU: "500m", DefaultMemory: "256Mi", MaxCPU: "8", MaxMemory: "16Gi"},
		})
		return err
	})
	require.NoError(t, err)
	q, ok := mocks.Find("kubernetes:core/v1:ResourceQuota", "prod-quota")
	require.True(t, ok)
	require.Equal(t, map[string]any{
		"requests.cpu": "100", "requests.memory": "200Gi", "limits.cpu": "300", "limits.memory": "400Gi",
		"pods": "250", "requests.nvidia.com/gpu": "15",
	}, q.Get("spec.hard"))
	l, ok := mocks.Find("kubernetes:core/v1:LimitRange", "prod-limits")
	require.True(t, ok)
	require.Equal(t, "Container", l.Get("spec.limits.0.type"))
	require.Equal(t, map[string]any{"cpu": "8", "memory": "16Gi"}, l.Get("spec.limits.0.max"))
}

func TestPodPolicy(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := NewPodPolicy(ctx, "grafana", PodPolicy{
			Name: "grafana", Namespace: pulumi.String("intelliflow-monitoring"), Pods: map[string]string{"app.kubernetes.io/name": "grafana"},
			Ingress: []*networkingv1.NetworkPolicyIngressRuleArgs{From(Pods(map[string]string{"app": "ingress"}), TCP(3000))},
			Egress:  []*networkingv1.NetworkPolicyEgressRuleArgs{To(CIDRs("10.0.0.0/16"), TCP(443))},
		})
		return err
	})
	require.NoError(t, err)
	p, ok := mocks.Find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "grafana")
	require.True(t, ok)
	require.Equal(t, map[string]any{"app.kubernetes.io/name": "grafana"}, p.Get("spec.podSelector.matchLabels"), "a policy of the workload's own")
	require.Equal(t, []any{"Ingress", "Egress"}, p.Get("spec.policyTypes"))
	require.Equal(t, "ingress", p.Get("spec.ingress.0.from.0.podSelector.matchLabels.app"))
	require.Equal(t, 3000.0, p.Get("spec.ingress.0.ports.0.port"))
	require.Equal(t, "10.0.0.0/16", p.Get("spec.egress.0.to.0.ipBlock.cidr"))

	// Without pods to select it would open the whole namespace.
	_, err = pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := NewPodPolicy(ctx, "all", PodPolicy{Name: "all", Namespace: pulumi.String("ns")})
		return err
	})
	require.ErrorContains(t, err, `network policy "all": Name, Namespace and Pods are required`)
}
