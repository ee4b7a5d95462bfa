package monitoring

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"

	"gopkg.in/yaml.v3"
)

// ReceiversSecret is the Kubernetes Secret Alertmanager mounts its
// receivers' credentials from; the config names files, never values.
const ReceiversSecret = "alertmanager-receivers"

// secretsDir is where the operator mounts ReceiversSecret.
const secretsDir = "/etc/alertmanager/secrets/" + ReceiversSecret

// Credential keys of ReceiversSecret (and of the stack's credentials).
const (
	SlackWebhookKey     = "slack-webhook-url"
	PagerDutyRoutingKey = "pagerduty-routing-key"
	SMTPPasswordKey     = "smtp-password"
)

// Routing is where alerts go.
type Routing struct {
	// SlackChannel receives every warning and critical alert.
	SlackChannel string
	// EmailTo receives info alerts and the daily digest of the rest; the
	// mail goes out through SMTPHost as EmailFrom.
	EmailTo, EmailFrom, SMTPHost, SMTPUser string
}

var channelRE = regexp.MustCompile(`^#[a-z0-9_-]{1,80}$`)

// Validate reports every problem, naming the field.
func (r Routing) Validate() error {
	var errs []error
	if !channelRE.MatchString(r.SlackChannel) {
		errs = append(errs, fmt.Errorf("SlackChannel %q is not a #channel", r.SlackChannel))
	}
	for field, a := range map[string]string{"EmailTo": r.EmailTo, "EmailFrom": r.EmailFrom} {
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not an address", field, a))
		}
	}
	if r.SMTPHost == "" || r.SMTPUser == "" {
		errs = append(errs, errors.New("SMTPHost (host:port) and SMTPUser are required"))
	}
	return errors.Join(errs...)
}

// AlertmanagerConfig routes by severity: critical pages PagerDuty and posts
// to Slack, warning posts to Slack, info goes by email; a critical alert
// silences the warnings of the same service and namespace; the always-
// firing Watchdog goes nowhere. Credentials are files from ReceiversSecret.
func AlertmanagerConfig(r Routing) (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	slack := map[string]any{
		"api_url_file": secretsDir + "/" + SlackWebhookKey, "channel": r.SlackChannel, "send_resolved": true,
		"title": `[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})`,
		"text":  `{{ range .Alerts }}{{ .Annotations.summary }}{{ "\n" }}{{ .Annotations.description }}{{ "\n" }}{{ end }}`,
	}
	cfg := map[string]any{
		"route": map[string]any{
			"receiver": "slack", "group_by": []string{"alertname", "namespace", "service"},
			"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
			"routes": []any{
				map[string]any{"receiver": "null", "matchers": []string{`alertname = "Watchdog"`}},
				map[string]any{"receiver": "pagerduty", "matchers": []string{`severity = "critical"`}, "continue": true, "repeat_interval": "1h"},
				map[string]any{"receiver": "slack", "matchers": []string{`severity =~ "critical|warning"`}},
				map[string]any{"receiver": "email", "matchers": []string{`severity = "info"`}, "repeat_interval": "24h"},
			},
		},
		"inhibit_rules": []any{map[string]any{
			"source_matchers": []string{`severity = "critical"`},
			"target_matchers": []string{`severity = "warning"`},
			"equal":           []string{"namespace", "service"},
		}},
		"receivers": []any{
			map[string]any{"name": "null"},
			map[string]any{"name": "pagerduty", "pagerduty_configs": []any{map[string]any{
				"routing_key_file": secretsDir + "/" + PagerDutyRoutingKey, "severity": "critical", "send_resolved": true,
			}}},
			map[string]any{"name": "slack", "slack_configs": []any{slack}},
			map[string]any{"name": "email", "email_configs": []any{map[string]any{
				"to": r.EmailTo, "from": r.EmailFrom, "smarthost": r.SMTPHost, "auth_username": r.SMTPUser,
				"auth_password_file": secretsDir + "/" + SMTPPasswordKey, "require_tls": true, "send_resolved": true,
			}}},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
