package fraudclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestDeadlineBreakerAndBadAnswers(t *testing.T) {
	var mode atomic.Value
	mode.Store("ok")
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch mode.Load() {
		case "ok":
			_, _ = w.Write([]byte(`{"score":0.12,"decision":"approve","model":{"name":"fraud","version":"v1"},"degraded":false}`))
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "error":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "junk":
			_, _ = w.Write([]byte(`{"score":7}`))
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	c := New(srv.URL, Options{Timeout: 50 * time.Millisecond, Failures: 3, Cooldown: 200 * time.Millisecond}, reg)
	ctx := context.Background()
	p := Payment{TransactionID: "t1", CardID: "a1", Amount: 12.5, Currency: "EUR", Timestamp: time.Now()}

	s, err := c.Score(ctx, p)
	require.NoError(t, err)
	require.Equal(t, "approve", s.Decision)

	mode.Store("junk")
	_, err = c.Score(ctx, p)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorContains(t, err, "not a score")

	mode.Store("slow")
	start := time.Now()
	_, err = c.Score(ctx, p)
	require.ErrorIs(t, err, ErrUnavailable)
	require.Less(t, time.Since(start), 290*time.Millisecond, "a payment waits the deadline, not fraud")

	mode.Store("error")
	_, err = c.Score(ctx, p) // third failure in a row: the breaker opens
	require.ErrorContains(t, err, "500")
	before := calls.Load()
	_, err = c.Score(ctx, p)
	require.ErrorContains(t, err, "circuit open")
	require.Equal(t, before, calls.Load(), "an open breaker does not call fraud")

	mode.Store("ok")
	time.Sleep(250 * time.Millisecond) // the cooldown: one trial call closes it
	_, err = c.Score(ctx, p)
	require.NoError(t, err)
	require.Equal(t, float64(2), testutil.ToFloat64(c.calls.WithLabelValues("scored")))
	require.Equal(t, float64(3), testutil.ToFloat64(c.calls.WithLabelValues("failed")))
	require.Equal(t, float64(1), testutil.ToFloat64(c.calls.WithLabelValues("breaker_open")))
}
