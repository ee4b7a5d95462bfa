package monitoring

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Panel is one dashboard panel: a query or several, shown as a time series,
// a stat or a heatmap.
type Panel struct {
	Title, Kind, Unit string
	// Queries are PromQL with the legend each series gets.
	Queries []Query
	// Width in the 24-column grid (default 12).
	Width int
}

// Query is one PromQL target.
type Query struct{ Expr, Legend string }

// Dashboard is a Grafana dashboard, generated so its queries use the same
// metric names as the services and the alert rules.
type Dashboard struct {
	UID, Title string
	Panels     []Panel
}

// Dashboards are the platform's dashboards for one apps' namespace.
func Dashboards(ns string) []Dashboard {
	in := fmt.Sprintf("namespace=%q", ns)
	quantile := func(q float64, metric, by string) string {
		return fmt.Sprintf(`histogram_quantile(%g, sum by (le%s) (rate(%s_bucket[5m])))`, q, by, metric)
	}
	return []Dashboard{
		{UID: "intelliflow-overview", Title: "IntelliFlow: platform overview", Panels: []Panel{
			{Title: "Service health (scrape targets up)", Kind: "stat", Width: 24, Queries: []Query{{fmt.Sprintf(`sum by (service) (up{%s})`, in), "{{service}}"}}},
			{Title: "Requests per second", Kind: "timeseries", Unit: "reqps", Queries: []Query{{`sum by (service) (rate(http_requests_total[5m]))`, "{{service}}"}}},
			{Title: "Error rate (5xx)", Kind: "timeseries", Unit: "percentunit", Queries: []Query{{
				`sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (service) (rate(http_requests_total[5m]))`, "{{service}}"}}},
			{Title: "Latency p95", Kind: "timeseries", Unit: "s", Queries: []Query{{quantile(0.95, "http_request_duration_seconds", ", service"), "{{service}}"}}},
			{Title: "Latency p99", Kind: "timeseries", Unit: "s", Queries: []Query{{quantile(0.99, "http_request_duration_seconds", ", service"), "{{service}}"}}},
			{Title: "CPU by pod", Kind: "timeseries", Unit: "cores", Queries: []Query{{fmt.Sprintf(`sum by (pod) (rate(container_cpu_usage_seconds_total{%s,container!=""}[5m]))`, in), "{{pod}}"}}},
			{Title: "Memory by pod", Kind: "timeseries", Unit: "bytes", Queries: []Query{{fmt.Sprintf(`sum by (pod) (container_memory_working_set_bytes{%s,container!=""})`, in), "{{pod}}"}}},
			{Title: "Replicas (HPA current / max)", Kind: "timeseries", Width: 24, Queries: []Query{
				{fmt.Sprintf(`kube_horizontalpodautoscaler_status_current_replicas{%s}`, in), "{{horizontalpodautoscaler}} current"},
				{fmt.Sprintf(`kube_horizontalpodautoscaler_spec_max_replicas{%s}`, in), "{{horizontalpodautoscaler}} max"},
			}},
		}},
		{UID: "intelliflow-business", Title: "IntelliFlow: business", Panels: []Panel{
			{Title: "Payments processed per second", Kind: "timeseries", Unit: "ops", Queries: []Query{{`sum(rate(transactions_processed_total[5m]))`, "payments"}}},
			{Title: "Payments waiting in the outbox", Kind: "timeseries", Queries: []Query{{`max(transactions_outbox_pending)`, "outbox"}}},
			{Title: "Fraud decisions per second", Kind: "timeseries", Unit: "ops", Queries: []Query{{`sum by (decision) (rate(fraud_decisions_total[5m]))`, "{{decision}}"}}},
			{Title: "Declined share", Kind: "stat", Unit: "percentunit", Queries: []Query{{
				`sum(rate(fraud_decisions_total{decision="decline"}[1h])) / sum(rate(fraud_decisions_total[1h]))`, "declined"}}},
			{Title: "User requests per second", Kind: "timeseries", Unit: "reqps", Queries: []Query{{`sum by (route) (rate(http_requests_total{service="users"}[5m]))`, "{{route}}"}}},
			{Title: "Fraud alerts mailed", Kind: "timeseries", Unit: "ops", Queries: []Query{{`sum(rate(notifications_sent_total[5m]))`, "mails"}}},
		}},
		{UID: "intelliflow-ml", Title: "IntelliFlow: fraud model", Panels: []Panel{
			{Title: "Prediction latency (p50, p95, p99; alert at 100 ms)", Kind: "timeseries", Unit: "s", Width: 24, Queries: []Query{
				{quantile(0.5, "fraud_prediction_duration_seconds", ""), "p50"},
				{quantile(0.95, "fraud_prediction_duration_seconds", ""), "p95"},
				{quantile(0.99, "fraud_prediction_duration_seconds", ""), "p99"},
			}},
			{Title: "Score distribution", Kind: "heatmap", Queries: []Query{{`sum by (le) (increase(fraud_score_bucket[5m]))`, "{{le}}"}}},
			{Title: "Model quality (PR-AUC of the serving model)", Kind: "stat", Queries: []Query{{`max by (version) (model_accuracy_score{metric="pr_auc"})`, "{{version}}"}}},
			{Title: "Live model quality (labelled decisions, review threshold)", Kind: "timeseries", Queries: []Query{{`max by (metric) (model_accuracy_score{source="live"})`, "{{metric}}"}, {`max(model_score_drift_psi)`, "drift (PSI)"}}},
			// Drift: today's score mix against the same hour last week.
			{Title: "Drift: share of scores above 0.5, now vs a week ago", Kind: "timeseries", Unit: "percentunit", Queries: []Query{
				{`1 - sum(rate(fraud_score_bucket{le="0.5"}[1h])) / sum(rate(fraud_score_count[1h]))`, "now"},
				{`1 - sum(rate(fraud_score_bucket{le="0.5"}[1h] offset 7d)) / sum(rate(fraud_score_count[1h] offset 7d))`, "a week ago"},
			}},
			{Title: "Degraded predictions (features missing)", Kind: "timeseries", Unit: "ops", Queries: []Query{{`sum(rate(fraud_degraded_predictions_total[5m]))`, "degraded"}}},
			{Title: "Serving model", Kind: "stat", Queries: []Query{{`max by (version, kind) (fraud_model_info)`, "{{version}} ({{kind}})"}}},
		}},
	}
}

// JSON is the dashboard in Grafana's model, laid out in rows of panels.
func (d Dashboard) JSON() (string, error) {
	var panels []any
	x, y := 0, 0
	for i, p := range d.Panels {
		w := p.Width
		if w == 0 {
			w = 12
		}
		if x+w > 24 {
			x, y = 0, y+8
		}
		var targets []any
		for j, q := range p.Queries {
			targets = append(targets, map[string]any{
				"refId": string(rune('A' + j)), "expr": q.Expr, "legendFormat": q.Legend,
				"datasource": map[string]any{"type": "prometheus", "uid": "${datasource}"},
			})
		}
		panels = append(panels, map[string]any{
			"id": i + 1, "type": p.Kind, "title": p.Title, "targets": targets,
			"gridPos":     map[string]any{"x": x, "y": y, "w": w, "h": 8},
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": unitOr(p.Unit)}, "overrides": []any{}},
			"datasource":  map[string]any{"type": "prometheus", "uid": "${datasource}"},
		})
		x += w
	}
	doc := map[string]any{
		"uid": d.UID, "title": d.Title, "tags": []string{"intelliflow"}, "schemaVersion": 39, "version": 1,
		"editable": false, "refresh": "30s", "time": map[string]any{"from": "now-6h", "to": "now"},
		"templating": map[string]any{"list": []any{map[string]any{
			"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source",
		}}},
		"panels": panels,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return string(b), err
}

func unitOr(u string) string {
	if u == "" {
		return "short"
	}
	return u
}

// ConfigMapName is the ConfigMap a dashboard is provisioned from.
func (d Dashboard) ConfigMapName() string {
	return "dashboard-" + strings.TrimPrefix(d.UID, "intelliflow-")
}
