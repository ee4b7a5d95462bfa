package monitoring

import "fmt"

// AdapterChartVersion pins prometheus-adapter, which serves custom and
// external metrics to the HPAs from Prometheus.
const AdapterChartVersion = "4.11.0"

// MetricRule maps a Prometheus series to a metric an HPA reads.
type MetricRule struct {
	// Name is what the HPA asks for; Series the Prometheus metric.
	Name, Series string
	// Query is the adapter's metricsQuery template.
	Query string
	// External rules serve the external metrics API, the others the
	// custom (per-pod) metrics API.
	External bool
}

// MetricRules are the HPA metrics of the prod sizes (stacks.DefaultSizes):
// transactions scale on payments processed per pod per second, and on the
// backlog of payments waiting to be published. The seed called the backlog
// sqs_queue_depth; here payments queue in the transactions outbox on their
// way to Kafka, so that is what the name measures.
var MetricRules = []MetricRule{
	{Name: "transaction_processing_rate", Series: "transactions_processed_total",
		Query: `sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)`},
	{Name: "sqs_queue_depth", Series: "transactions_outbox_pending", External: true,
		Query: `max(<<.Series>>{<<.LabelMatchers>>})`},
}

// AdapterRules are the chart's rules values.
func AdapterRules() map[string]any {
	var custom, external []any
	for _, r := range MetricRules {
		rule := map[string]any{
			"seriesQuery":  fmt.Sprintf(`%s{namespace!="",pod!=""}`, r.Series),
			"resources":    map[string]any{"overrides": map[string]any{"namespace": map[string]any{"resource": "namespace"}, "pod": map[string]any{"resource": "pod"}}},
			"name":         map[string]any{"matches": "^" + r.Series + "$", "as": r.Name},
			"metricsQuery": r.Query,
		}
		if r.External {
			external = append(external, rule)
		} else {
			custom = append(custom, rule)
		}
	}
	return map[string]any{"default": false, "custom": custom, "external": external}
}
