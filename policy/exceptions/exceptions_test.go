package exceptions

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/policy/rules"
)

// TestEveryExceptionIsReviewable: each names a rule the pack has, one
// resource by type and Pulumi name, and a reason of substance; none waives a
// rule for everything, and none is listed twice.
func TestEveryExceptionIsReviewable(t *testing.T) {
	var policies []string
	for _, r := range rules.All(rules.Settings{PodSecurityVersion: "v1.33", ImageRegistries: []string{"r.example.com"}}) {
		policies = append(policies, r.Name)
	}
	for _, r := range rules.AllStack() {
		policies = append(policies, r.Name)
	}
	seen := map[string]bool{}
	for _, e := range List {
		key := e.Rule + " " + e.Type + " " + e.Name
		require.False(t, seen[key], "listed twice: %s", key)
		seen[key] = true
		known := false
		for _, p := range policies {
			known = known || p == e.Rule || strings.HasPrefix(p, e.Rule+"-")
		}
		require.True(t, known, "%s waives %s, which no policy has", e.Name, e.Rule)
		require.True(t, strings.HasPrefix(e.Type, "kubernetes:") || strings.HasPrefix(e.Type, "aws:"), e.Type)
		require.NotEmpty(t, e.Name)
		require.NotContains(t, e.Name, "*")
		require.Greater(t, len(e.Reason), 60, "%s: say why, for the reviewer", key)
	}
	require.Len(t, List, 55, "the device plugin's 4, Falco's 9, kube-bench's 5, the chart controllers' 18 RBAC, 5 singletons, 10 health checks, ECK's secret name and ingress-nginx's 3; a new one is reviewed here")
}
