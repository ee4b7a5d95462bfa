package telemetry

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestRouteCountsByCodeAndTimes(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHTTP(reg, "gateway")
	ok := h.Route("/v1/score", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	bad := h.Route("/v1/score", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	for range 3 {
		ok.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/score?card=1", nil))
	}
	bad.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/score", nil))
	require.NoError(t, testutil.GatherAndCompare(reg, requestsTotal(`
http_requests_total{code="200",method="post",route="/v1/score",service="gateway"} 3
http_requests_total{code="503",method="post",route="/v1/score",service="gateway"} 1
`), RequestsTotal))
	require.Equal(t, 1, testutil.CollectAndCount(h.duration), "one series per route and method; the path's query never becomes a label")
}

func TestAccessLog(t *testing.T) {
	var buf strings.Builder
	h := NewHTTP(prometheus.NewRegistry(), "fraud").WithAccessLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	h.Route("/v1/score", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/score?card=secret", nil))
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(buf.String()), &line))
	require.Equal(t, "request", line["msg"])
	require.Equal(t, "/v1/score", line["route"], "the pattern, never the raw path with its query")
	require.Equal(t, float64(http.StatusTeapot), line["status"])
	require.Contains(t, line, "duration_ms")
	require.NotContains(t, buf.String(), "card=secret")
}

func TestRequestIDsFlowThrough(t *testing.T) {
	var downstream string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { downstream = r.Header.Get(RequestIDHeader) }))
	defer backend.Close()
	client := &http.Client{Transport: Transport(nil)}
	var seen string
	h := RequestIDs(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, backend.URL, nil)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}))

	for _, tt := range []struct{ in, keep string }{
		{"req-42.a_b", "req-42.a_b"},
		{"", ""},
		{"bad id with spaces", ""},
		{strings.Repeat("x", 129), ""},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.in != "" {
			r.Header.Set(RequestIDHeader, tt.in)
		}
		h.ServeHTTP(rec, r)
		got := rec.Header().Get(RequestIDHeader)
		if tt.keep != "" {
			require.Equal(t, tt.keep, got)
		} else {
			require.Len(t, got, 32, "a new id replaces %q", tt.in)
		}
		require.Equal(t, got, seen)
		require.Equal(t, got, downstream, "the id reaches the called service")
	}
}

// TestRouteKeepsTheWriterAndBoundsMethods: a handler under Route still
// reaches the connection's Flush (the gateway streams through it), a body
// written without a header counts as 200, and a method HTTP does not
// define is counted as "other", not as a series of its own.
func TestRouteKeepsTheWriterAndBoundsMethods(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHTTP(reg, "gateway")
	route := h.Route("/stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("part"))
		require.NoError(t, http.NewResponseController(w).Flush())
		w.WriteHeader(http.StatusTeapot) // too late: ignored, as net/http does
	}))
	rec := httptest.NewRecorder()
	route.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stream", nil))
	require.True(t, rec.Flushed)
	route.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/stream", nil))
	require.NoError(t, testutil.GatherAndCompare(reg, requestsTotal(`
http_requests_total{code="200",method="get",route="/stream",service="gateway"} 1
http_requests_total{code="200",method="other",route="/stream",service="gateway"} 1
`), RequestsTotal))
}

// requestsTotal is the exposition of http_requests_total with series.
func requestsTotal(series string) io.Reader {
	return strings.NewReader(`
# HELP http_requests_total HTTP requests served, by route, method and status code.
# TYPE http_requests_total counter
` + strings.TrimPrefix(series, "\n"))
}
