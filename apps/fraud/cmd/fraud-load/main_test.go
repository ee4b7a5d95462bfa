package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/loadgen"
)

func TestFlagsAreChecked(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"-target is required"}},
		{[]string{"-target", "127.0.0.1:8080"}, []string{`-target "127.0.0.1:8080" is not an http(s) URL`}},
		{[]string{"-target", "http://x", "-rate", "0", "-duration", "-1s", "-endpoint", "predict", "-cards", "0", "-timeout", "0s"},
			[]string{"-rate 0", "-duration -1s", `-endpoint "predict"`, "-cards 0", "-timeout 0s"}},
		{[]string{"-target", "http://x", "extra"}, []string{`unexpected arguments ["extra"]`}},
		{[]string{"-rate", "fast"}, []string{`invalid value "fast" for flag -rate`}},
	} {
		err := run(context.Background(), tt.args, &bytes.Buffer{})
		for _, w := range tt.want {
			require.ErrorContains(t, err, w)
		}
	}
}

// TestOnlyCorrectAnswersCount drives a server that answers well, degraded,
// wrongly, with errors and too late, in turn: only the correct answers are
// goodput and enter the percentiles; the rest are counted by reason.
func TestOnlyCorrectAnswersCount(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/score", r.URL.Path)
		var q map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&q), "the generator sends valid JSON")
		switch n.Add(1) % 5 {
		case 0:
			_, _ = w.Write([]byte(`{"score":0.1,"decision":"approve","degraded":false,"model":{"version":"v1"}}`))
		case 1:
			_, _ = w.Write([]byte(`{"score":0.1,"decision":"approve","degraded":true,"model":{"version":"v1"}}`))
		case 2:
			_, _ = w.Write([]byte(`{"score":1.7,"decision":"approve","degraded":false,"model":{"version":"v1"}}`))
		case 3:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 4:
			time.Sleep(300 * time.Millisecond) // past the generator's timeout
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-target", srv.URL, "-rate", "100", "-duration", "1s", "-timeout", "100ms"}, &out))
	var rep loadgen.Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	t.Logf("%s", out.String())
	require.Equal(t, 100, rep.Sent)
	require.Equal(t, 20, rep.Good)
	require.Equal(t, 20, rep.Degraded)
	require.Equal(t, 60, rep.Failed)
	require.Equal(t, 20, rep.Failures["invalid answer"].Count)
	require.Equal(t, 20, rep.Failures["status 503"].Count)
	require.Equal(t, 20, rep.Failures["transport error"].Count)
	require.Contains(t, rep.Failures["transport error"].Example, "Timeout")
	require.Less(t, rep.LatencyMS.Max, 100.0, "the late answers are not in the percentiles")
	require.InDelta(t, 20, rep.GoodputRPS, 3, "goodput is good answers per second, not the offered 100")
	require.True(t, strings.HasPrefix(out.String(), "{"))
}
