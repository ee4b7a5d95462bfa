// Package fraudclient asks the fraud server to score a payment, within a
// deadline and behind a circuit breaker: when fraud is slow or down, a
// payment waits at most the deadline, and after repeated failures the
// breaker answers at once until fraud has had time to recover. The caller
// decides what a payment without a score becomes.
package fraudclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/intelliflow/platform/internal/telemetry"
)

// ErrUnavailable wraps every reason a payment got no score.
var ErrUnavailable = errors.New("fraud scoring unavailable")

// Payment is what fraud scores.
type Payment struct {
	TransactionID string    `json:"transaction_id"`
	CardID        string    `json:"card_id"`
	Amount        float64   `json:"amount"`
	Currency      string    `json:"currency"`
	MerchantID    string    `json:"merchant_id,omitempty"`
	Timestamp     time.Time `json:"timestamp"`
}

// Score is fraud's answer.
type Score struct {
	Score    float64 `json:"score"`
	Decision string  `json:"decision"`
	Model    struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"model"`
	Degraded bool `json:"degraded"`
}

// Client calls one fraud server.
type Client struct {
	url      string
	http     *http.Client
	timeout  time.Duration
	breaker  *gobreaker.CircuitBreaker[Score]
	calls    *prometheus.CounterVec
	duration prometheus.Histogram
}

// Options tune the client.
type Options struct {
	// Timeout bounds one call (the catalog's FRAUD_SCORE_TIMEOUT).
	Timeout time.Duration
	// Failures in a row open the breaker; it stays open for Cooldown.
	Failures uint32
	Cooldown time.Duration
}

// New calls the fraud server at baseURL (FRAUD_URL).
func New(baseURL string, o Options, reg prometheus.Registerer) *Client {
	c := &Client{
		url:     baseURL + "/v1/score",
		timeout: o.Timeout,
		http: &http.Client{Transport: telemetry.Transport(&http.Transport{
			MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: o.Timeout,
		})},
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "transactions_fraud_calls_total",
			Help: "Fraud scoring calls by outcome: scored, failed (error, timeout, bad answer) or breaker_open (not attempted)."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "transactions_fraud_call_duration_seconds",
			Help: "Time to a fraud score, attempts only.", Buckets: telemetry.Buckets}),
	}
	for _, o := range []string{"scored", "failed", "breaker_open"} {
		c.calls.WithLabelValues(o)
	}
	reg.MustRegister(c.calls, c.duration)
	c.breaker = gobreaker.NewCircuitBreaker[Score](gobreaker.Settings{
		Name: "fraud", MaxRequests: 1, Timeout: o.Cooldown,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= o.Failures },
	})
	return c
}

// Score asks fraud for p's score. Any failure is ErrUnavailable with the
// reason.
func (c *Client) Score(ctx context.Context, p Payment) (Score, error) {
	start := time.Now()
	s, err := c.breaker.Execute(func() (Score, error) { return c.call(ctx, p) })
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		c.calls.WithLabelValues("breaker_open").Inc()
		return Score{}, fmt.Errorf("%w: circuit open after repeated failures", ErrUnavailable)
	case err != nil:
		c.calls.WithLabelValues("failed").Inc()
		c.duration.Observe(time.Since(start).Seconds())
		return Score{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c.calls.WithLabelValues("scored").Inc()
	c.duration.Observe(time.Since(start).Seconds())
	return s, nil
}

func (c *Client) call(ctx context.Context, p Payment) (Score, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := json.Marshal(p)
	if err != nil {
		return Score{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Score{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Score{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Score{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Score{}, fmt.Errorf("fraud answered %s: %.200s", resp.Status, b)
	}
	var s Score
	if err := json.Unmarshal(b, &s); err != nil || s.Score < 0 || s.Score > 1 ||
		(s.Decision != "approve" && s.Decision != "review" && s.Decision != "decline") {
		return Score{}, fmt.Errorf("fraud answered something that is not a score: %.200s", b)
	}
	return s, nil
}
