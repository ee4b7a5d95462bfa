// Package channels delivers a fraud alert where people see it: a Slack
// incoming webhook, PagerDuty's Events API v2, and e-mail over SMTP with
// STARTTLS. Each channel renders its own template and says whether a
// failure is worth another try: a channel that refuses the alert itself
// (a 4xx other than 429, a refused recipient) fails permanently and the
// alert goes to the dead-letter topic; anything else (5xx, 429, a
// connection that failed) is retried with exponential backoff and jitter
// (Deliver).
package channels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/template"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/intelliflow/platform/apps/fraud/alerts"
)

// Channel is one way of telling people.
type Channel interface {
	// Name labels the channel's metrics and logs: email, slack, pagerduty.
	Name() string
	// Send delivers a once; an error wrapped with backoff.Permanent is not
	// worth retrying.
	Send(ctx context.Context, a alerts.Alert) error
}

// Retry is how long a channel is retried before the alert is given up
// (dead-lettered), and the first wait, doubled on each try with ±50 %
// jitter up to MaxInterval.
type Retry struct {
	Initial, MaxInterval, MaxElapsed time.Duration
}

// DefaultRetry keeps trying for ten minutes: a webhook's short outage or a
// mail relay's restart costs no alert.
var DefaultRetry = Retry{Initial: 500 * time.Millisecond, MaxInterval: 30 * time.Second, MaxElapsed: 10 * time.Minute}

// Deliver sends a through ch until it is accepted, fails permanently, or
// r.MaxElapsed passes (or ctx ends); it returns how many tries it took.
// A refused alert's error wraps ErrRefused.
func Deliver(ctx context.Context, ch Channel, a alerts.Alert, r Retry) (tries int, err error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.RandomizationFactor, b.Multiplier = r.Initial, r.MaxInterval, 0.5, 2
	refused := false
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		tries++
		err := ch.Send(ctx, a)
		var p *backoff.PermanentError
		refused = errors.As(err, &p)
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(r.MaxElapsed))
	if err != nil && refused {
		err = fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return tries, err
}

// ErrRefused is an alert a channel refused: retrying cannot fix it.
var ErrRefused = errors.New("refused by the channel")

// IsPermanent says whether err is one retrying cannot fix.
func IsPermanent(err error) bool { return errors.Is(err, ErrRefused) }

// post sends body to url and classifies the answer: 2xx accepted; 429
// retried after its Retry-After; other 4xx permanent; the rest retried.
func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return backoff.RetryAfter(s)
		}
		return fmt.Errorf("%s: 429 %s", req.URL.Host, answer)
	case resp.StatusCode/100 == 4:
		return backoff.Permanent(fmt.Errorf("%s refused the alert: %d %s", req.URL.Host, resp.StatusCode, answer))
	default:
		return fmt.Errorf("%s: %d %s", req.URL.Host, resp.StatusCode, answer)
	}
}

// render runs a template on a, for the channels' text.
func render(t *template.Template, a alerts.Alert) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, a); err != nil {
		return "", backoff.Permanent(fmt.Errorf("template %s: %w", t.Name(), err))
	}
	return b.String(), nil
}

// Parse reads a channel's template (text/template over alerts.Alert),
// failing at start on a template that does not parse or does not render a
// sample alert.
func Parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	sample := alerts.Alert{EventID: "e", TransactionID: "t", CardID: "c", Amount: 1, Currency: "EUR", Score: 0.9, Decision: "decline",
		Model: alerts.Model{Name: "fraud", Version: "v"}, Reasons: []alerts.Reason{{Feature: "amount", Contribution: 1}}}
	if err := t.Execute(io.Discard, sample); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}
