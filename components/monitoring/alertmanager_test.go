package monitoring

import (
	"testing"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

var routing = Routing{SlackChannel: "#intelliflow-alerts", EmailTo: "oncall@intelliflow.example", EmailFrom: "alertmanager@intelliflow.example",
	SMTPHost: "smtp.intelliflow.example:587", SMTPUser: "alertmanager"}

// TestAlertmanagerConfigLoads: Alertmanager's own loader accepts the
// config (unknown fields and bad matchers fail it), and its router sends
// each severity where the platform wants it.
func TestAlertmanagerConfigLoads(t *testing.T) {
	raw, err := AlertmanagerConfig(routing)
	require.NoError(t, err)
	cfg, err := config.Load(raw)
	require.NoError(t, err, raw)
	require.NotContains(t, raw, "hooks.slack.com", "credentials are files, never values")

	route := dispatch.NewRoute(cfg.Route, nil)
	receivers := func(labels model.LabelSet) []string {
		var out []string
		for _, r := range route.Match(labels) {
			out = append(out, r.RouteOpts.Receiver)
		}
		return out
	}
	require.Equal(t, []string{"pagerduty", "slack"}, receivers(model.LabelSet{"alertname": "VaultSealed", "severity": "critical"}), "critical pages and posts")
	require.Equal(t, []string{"slack"}, receivers(model.LabelSet{"alertname": "HPAAtMaximum", "severity": "warning"}))
	require.Equal(t, []string{"email"}, receivers(model.LabelSet{"alertname": "Digest", "severity": "info"}))
	require.Equal(t, []string{"null"}, receivers(model.LabelSet{"alertname": "Watchdog", "severity": "none"}))
	require.Len(t, cfg.InhibitRules, 1)
	require.Equal(t, []string{"namespace", "service"}, cfg.InhibitRules[0].Equal)

	_, err = AlertmanagerConfig(Routing{SlackChannel: "alerts", EmailTo: "x"})
	require.ErrorContains(t, err, `SlackChannel "alerts"`)
	require.ErrorContains(t, err, "EmailTo")
	require.ErrorContains(t, err, "SMTPHost")
}
