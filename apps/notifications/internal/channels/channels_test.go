package channels

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/fraud/alerts"
)

var fast = Retry{Initial: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsed: 10 * time.Second}

func decline() alerts.Alert {
	return alerts.Alert{EventID: "ev-1", Version: alerts.SchemaVersion, OccurredAt: time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC),
		TransactionID: "tx-9", CardID: "card-7", Amount: 950, Currency: "EUR", MerchantID: "m-3", Score: 0.97, Decision: "decline",
		Model: alerts.Model{Name: "fraud", Version: "2026-11-01"}, Reasons: []alerts.Reason{{Feature: "amount_z", Contribution: 1.25}}}
}

func must(t *testing.T, name, text string) *template.Template {
	t.Helper()
	tpl, err := Parse(name, text)
	require.NoError(t, err)
	return tpl
}

// receiver is a webhook endpoint down (503) for its first `down` calls.
type receiver struct {
	down     int32
	status   int
	calls    atomic.Int32
	mu       sync.Mutex
	accepted []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.calls.Add(1)
	if n <= r.down {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	if r.status != 0 {
		http.Error(w, "no", r.status)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.accepted = append(r.accepted, body)
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// TestWebhookDownThenUpDeliversOnce: Slack answers 503 five times; the
// alert is retried with backoff and accepted exactly once.
func TestWebhookDownThenUpDeliversOnce(t *testing.T) {
	r := &receiver{down: 5}
	srv := httptest.NewServer(r)
	defer srv.Close()
	ch := &Slack{URL: srv.URL, Template: must(t, "slack", DefaultSlackTemplate), Client: srv.Client()}
	tries, err := Deliver(context.Background(), ch, decline(), fast)
	require.NoError(t, err)
	require.Equal(t, 6, tries)
	require.Len(t, r.accepted, 1)
	text := r.accepted[0]["text"].(string)
	require.Contains(t, text, "*decline* payment tx-9: 950.00 EUR at m-3, card card-7, score 0.970")
	require.Contains(t, text, "• amount_z +1.250")
}

// TestRefusedAlertIsNotRetried: a 4xx is the alert's fault or the
// channel's configuration; retrying cannot fix it.
func TestRefusedAlertIsNotRetried(t *testing.T) {
	r := &receiver{status: http.StatusNotFound}
	srv := httptest.NewServer(r)
	defer srv.Close()
	ch := &Slack{URL: srv.URL, Template: must(t, "slack", DefaultSlackTemplate), Client: srv.Client()}
	tries, err := Deliver(context.Background(), ch, decline(), fast)
	require.Error(t, err)
	require.True(t, IsPermanent(err), "%v", err)
	require.Equal(t, 1, tries)
}

// TestTooManyRequestsWaitsRetryAfter: a 429 is retried after the wait the
// receiver asked for, not sooner.
func TestTooManyRequestsWaitsRetryAfter(t *testing.T) {
	var calls atomic.Int32
	var first time.Time
	var waited time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		waited = time.Since(first)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ch := &Slack{URL: srv.URL, Template: must(t, "slack", DefaultSlackTemplate), Client: srv.Client()}
	tries, err := Deliver(context.Background(), ch, decline(), fast)
	require.NoError(t, err)
	require.Equal(t, 2, tries)
	require.GreaterOrEqual(t, waited, 900*time.Millisecond)
}

// TestPagerDutyEvent: an Events API v2 trigger, deduplicated by the
// alert's event id, critical for a decline.
func TestPagerDutyEvent(t *testing.T) {
	r := &receiver{down: 1}
	srv := httptest.NewServer(r)
	defer srv.Close()
	ch := &PagerDuty{URL: srv.URL + "/v2/enqueue", RoutingKey: "R0UT1NG", Template: must(t, "pd", DefaultPagerDutySummary), Client: srv.Client()}
	_, err := Deliver(context.Background(), ch, decline(), fast)
	require.NoError(t, err)
	require.Len(t, r.accepted, 1)
	ev := r.accepted[0]
	require.Equal(t, "R0UT1NG", ev["routing_key"])
	require.Equal(t, "trigger", ev["event_action"])
	require.Equal(t, "ev-1", ev["dedup_key"], "a retried trigger is one incident")
	payload := ev["payload"].(map[string]any)
	require.Equal(t, "critical", payload["severity"])
	require.Equal(t, "decline: payment tx-9 of 950.00 EUR scored 0.970", payload["summary"])
	require.Equal(t, "card-7", payload["custom_details"].(map[string]any)["card_id"])
}

func TestTemplatesAreCheckedAtStart(t *testing.T) {
	_, err := Parse("bad", "{{.Decision")
	require.Error(t, err)
	_, err = Parse("unknown field", "{{.Nope}}")
	require.ErrorContains(t, err, "Nope")
}
