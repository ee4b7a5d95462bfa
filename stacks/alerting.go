package stacks

import (
	"fmt"
	"net/mail"
	"regexp"
)

// Alerting is where the platform's alerts go and how long metrics are kept.
type Alerting struct {
	SlackChannel string `json:"slackChannel"`
	EmailTo      string `json:"emailTo"`
	EmailFrom    string `json:"emailFrom"`
	SMTPUser     string `json:"smtpUser"`
	// RetentionDays and StorageGiB size Prometheus.
	RetentionDays int `json:"retentionDays"`
	StorageGiB    int `json:"storageGiB"`
}

// DefaultAlerting is an environment's alerting.
func DefaultAlerting(env Environment) Alerting {
	a := Alerting{
		SlackChannel: "#intelliflow-" + string(env) + "-alerts", EmailTo: "oncall@intelliflow.example",
		EmailFrom: "alertmanager@intelliflow.example", SMTPUser: "alertmanager", RetentionDays: 15, StorageGiB: 100,
	}
	if env == Prod {
		a.RetentionDays, a.StorageGiB = 30, 500
	}
	return a
}

var slackRE = regexp.MustCompile(`^#[a-z0-9_-]{1,80}$`)

func (c Config) validateAlerting() []error {
	a := c.Alerting
	var errs []error
	bad := func(k, format string, v ...any) {
		errs = append(errs, fmt.Errorf("config %s:alerting.%s: %s", Namespace, k, fmt.Sprintf(format, v...)))
	}
	if !slackRE.MatchString(a.SlackChannel) {
		bad("slackChannel", "%q is not a #channel", a.SlackChannel)
	}
	for k, v := range map[string]string{"emailTo": a.EmailTo, "emailFrom": a.EmailFrom} {
		if _, err := mail.ParseAddress(v); err != nil {
			bad(k, "%q is not an address", v)
		}
	}
	if a.SMTPUser == "" {
		bad("smtpUser", "is required")
	}
	if a.RetentionDays < 1 || a.RetentionDays > 400 {
		bad("retentionDays", "%d, want 1..400", a.RetentionDays)
	}
	if a.StorageGiB < 10 {
		bad("storageGiB", "%d, want at least 10", a.StorageGiB)
	}
	return errs
}
