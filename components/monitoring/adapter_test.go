package monitoring

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/stacks"
)

// TestAdapterServesTheHPAMetrics: every custom or external metric an HPA of
// any stack asks for is served by an adapter rule, from a series a service
// exports.
func TestAdapterServesTheHPAMetrics(t *testing.T) {
	served := map[string]MetricRule{}
	for _, r := range MetricRules {
		served[r.Name] = r
		require.Contains(t, exported(), r.Series, "%s comes from %s, which no service exports", r.Name, r.Series)
		metricsOf(t, r.Series) // a valid metric name
	}
	asked := 0
	for _, env := range stacks.Environments {
		for name, size := range stacks.DefaultSizes(env) {
			if m := size.PodsMetric; m != nil {
				asked++
				r, ok := served[m.Name]
				require.True(t, ok, "%s/%s scales on %s, which the adapter does not serve", env, name, m.Name)
				require.False(t, r.External)
			}
			if m := size.ExternalMetric; m != nil {
				asked++
				r, ok := served[m.Name]
				require.True(t, ok, "%s/%s scales on %s, which the adapter does not serve", env, name, m.Name)
				require.True(t, r.External)
			}
		}
	}
	require.Positive(t, asked)
	rules := AdapterRules()
	require.Len(t, rules["custom"], 1)
	require.Len(t, rules["external"], 1)
	require.Equal(t, false, rules["default"])
}
