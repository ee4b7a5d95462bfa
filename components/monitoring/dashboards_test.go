package monitoring

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDashboardsQueryExportedMetrics: every query parses and reads only
// metrics our services export or a named exporter publishes; each
// dashboard has the panels the issue asks for and is valid Grafana JSON.
func TestDashboardsQueryExportedMetrics(t *testing.T) {
	ours := exported()
	uids := map[string]bool{}
	titles := map[string][]string{}
	queries := 0
	for _, d := range Dashboards("intelliflow-prod") {
		require.False(t, uids[d.UID], "unique uid %s", d.UID)
		uids[d.UID] = true
		for _, p := range d.Panels {
			titles[d.UID] = append(titles[d.UID], p.Title)
			require.Contains(t, []string{"timeseries", "stat", "heatmap"}, p.Kind, p.Title)
			for _, q := range p.Queries {
				queries++
				for _, m := range metricsOf(t, q.Expr) {
					_, mine := ours[m]
					require.True(t, mine || PublishedByExporter(m), "%s / %s reads %s, which nothing publishes", d.Title, p.Title, m)
				}
			}
		}
		raw, err := d.JSON()
		require.NoError(t, err)
		var doc struct {
			UID    string `json:"uid"`
			Panels []struct {
				GridPos struct{ X, Y, W, H int } `json:"gridPos"`
				Targets []struct{ Expr string }  `json:"targets"`
			} `json:"panels"`
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &doc))
		require.Equal(t, d.UID, doc.UID)
		for _, p := range doc.Panels {
			require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panels fit the grid")
			require.NotEmpty(t, p.Targets)
		}
	}
	require.Subset(t, titles["intelliflow-overview"], []string{"Service health (scrape targets up)", "Requests per second", "Error rate (5xx)", "Latency p95", "Latency p99", "CPU by pod", "Memory by pod", "Replicas (HPA current / max)"})
	require.Subset(t, titles["intelliflow-business"], []string{"Payments processed per second", "Fraud decisions per second", "User requests per second"})
	require.Subset(t, titles["intelliflow-ml"], []string{"Prediction latency (p50, p95, p99; alert at 100 ms)", "Score distribution", "Model quality (PR-AUC of the serving model)", "Drift: share of scores above 0.5, now vs a week ago"})
	t.Logf("%d dashboards, %d queries, every metric accounted for", len(uids), queries)
}
