package channels

import (
	"context"
	"encoding/json"
	"net/http"
	"text/template"

	"github.com/intelliflow/platform/apps/fraud/alerts"
)

// DefaultSlackTemplate is the Slack message's text (mrkdwn).
const DefaultSlackTemplate = `:rotating_light: *{{.Decision}}* payment {{.TransactionID}}: {{printf "%.2f" .Amount}} {{.Currency}} at {{.MerchantID}}, card {{.CardID}}, score {{printf "%.3f" .Score}} ({{.Model.Name}} {{.Model.Version}}){{range .Reasons}}
• {{.Feature}} +{{printf "%.3f" .Contribution}}{{end}}`

// Slack posts to an incoming webhook.
type Slack struct {
	URL      string
	Template *template.Template
	Client   *http.Client
}

// Name implements Channel.
func (s *Slack) Name() string { return "slack" }

// Send implements Channel.
func (s *Slack) Send(ctx context.Context, a alerts.Alert) error {
	text, err := render(s.Template, a)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"text": text}) // a map of strings always encodes
	return post(ctx, s.Client, s.URL, body)
}

// DefaultPagerDutySummary is the PagerDuty incident's summary (at most
// 1024 characters).
const DefaultPagerDutySummary = `{{.Decision}}: payment {{.TransactionID}} of {{printf "%.2f" .Amount}} {{.Currency}} scored {{printf "%.3f" .Score}}`

// PagerDuty triggers an event through the Events API v2. The dedup key is
// the alert's event id, so a retried trigger is one incident.
type PagerDuty struct {
	// URL is the events endpoint (https://events.pagerduty.com/v2/enqueue).
	URL        string
	RoutingKey string
	Template   *template.Template
	Client     *http.Client
}

// Name implements Channel.
func (p *PagerDuty) Name() string { return "pagerduty" }

// Send implements Channel.
func (p *PagerDuty) Send(ctx context.Context, a alerts.Alert) error {
	summary, err := render(p.Template, a)
	if err != nil {
		return err
	}
	severity := "warning"
	if a.Decision == "decline" {
		severity = "critical"
	}
	body, err := json.Marshal(map[string]any{
		"routing_key": p.RoutingKey, "event_action": "trigger", "dedup_key": a.EventID,
		"payload": map[string]any{
			"summary": truncate(summary, 1024), "source": "intelliflow-fraud", "severity": severity,
			"component": a.Model.Name + "/" + a.Model.Version, "class": a.Decision, "custom_details": a,
		},
	})
	if err != nil {
		return err
	}
	return post(ctx, p.Client, p.URL, body)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
