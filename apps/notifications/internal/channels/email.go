package channels

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"text/template"

	"github.com/cenkalti/backoff/v5"
	"github.com/wneessen/go-mail"

	"github.com/intelliflow/platform/apps/fraud/alerts"
)

// DefaultEmailSubject and DefaultEmailBody are the e-mail's templates.
const (
	DefaultEmailSubject = `[IntelliFlow] {{.Decision}}: payment {{.TransactionID}} ({{printf "%.2f" .Amount}} {{.Currency}})`
	DefaultEmailBody    = `A payment was flagged by the fraud model.

Decision:    {{.Decision}}
Transaction: {{.TransactionID}}
Card:        {{.CardID}}
Amount:      {{printf "%.2f" .Amount}} {{.Currency}}
Merchant:    {{.MerchantID}}
Score:       {{printf "%.3f" .Score}} ({{.Model.Name}} {{.Model.Version}}){{if .Degraded}}, without the card's history{{end}}

What raised the score:
{{range .Reasons}}  {{.Feature}} +{{printf "%.3f" .Contribution}}
{{end}}
Event {{.EventID}} at {{.OccurredAt.Format "2006-01-02 15:04:05 MST"}}.
`
)

// Email sends through an SMTP relay (SES in AWS), always over STARTTLS:
// a relay that does not offer it gets no alert, and no credential.
type Email struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	To       []string
	Subject  *template.Template
	Body     *template.Template
	// TLS verifies the relay (nil: the system's roots, the relay's name).
	TLS *tls.Config
}

// Name implements Channel.
func (e *Email) Name() string { return "email" }

// Send implements Channel.
func (e *Email) Send(ctx context.Context, a alerts.Alert) error {
	subject, err := render(e.Subject, a)
	if err != nil {
		return err
	}
	body, err := render(e.Body, a)
	if err != nil {
		return err
	}
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return backoff.Permanent(fmt.Errorf("MAIL_FROM: %w", err))
	}
	if err := m.To(e.To...); err != nil {
		return backoff.Permanent(fmt.Errorf("MAIL_TO: %w", err))
	}
	m.Subject(subject)
	m.SetMessageID()
	m.SetGenHeader("X-IntelliFlow-Event", a.EventID)
	m.SetBodyString(mail.TypeTextPlain, body)
	opts := []mail.Option{mail.WithPort(e.Port), mail.WithTLSPolicy(mail.TLSMandatory)}
	if e.TLS != nil {
		opts = append(opts, mail.WithTLSConfig(e.TLS))
	}
	if e.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(e.Username), mail.WithPassword(e.Password))
	}
	c, err := mail.NewClient(e.Host, opts...)
	if err != nil {
		return backoff.Permanent(err)
	}
	err = c.DialAndSendWithContext(ctx, m)
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() {
		return backoff.Permanent(err)
	}
	return err
}
