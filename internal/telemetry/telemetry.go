// Package telemetry is the HTTP metrics every IntelliFlow service exports,
// so that the platform's SLO alerts and dashboards (components/monitoring)
// can rely on the same names everywhere: requests by route and status
// code, and their latency. It wraps the client library's promhttp
// instrumentation rather than counting by hand.
package telemetry

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names the monitoring rules and dashboards read.
const (
	RequestsTotal   = "http_requests_total"
	RequestDuration = "http_request_duration_seconds"
)

// Buckets are the latency buckets: fine below 100 ms, where the seed's
// targets are (gateway p95 < 100 ms, fraud p99 < 100 ms).
var Buckets = []float64{.005, .01, .025, .05, .075, .1, .25, .5, 1, 2.5}

// HTTP instruments a service's handlers.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	access   *slog.Logger
}

// WithAccessLog also writes one "request" line per request to log, the
// access log the logging pipeline parses (components/logging).
func (h *HTTP) WithAccessLog(log *slog.Logger) *HTTP {
	h.access = log
	return h
}

// NewHTTP registers the HTTP metrics of service on reg.
func NewHTTP(reg prometheus.Registerer, service string) *HTTP {
	labels := prometheus.Labels{"service": service}
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RequestsTotal, Help: "HTTP requests served, by route, method and status code.", ConstLabels: labels,
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: RequestDuration, Help: "Time to serve an HTTP request, by route.", ConstLabels: labels, Buckets: Buckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(h.requests, h.duration)
	return h
}

// Handle registers next on mux under pattern ("METHOD /path"), counted
// and timed under the pattern's path. A nil h registers it uncounted, as
// the handler tests that need no registry do.
func (h *HTTP) Handle(mux *http.ServeMux, pattern string, next http.Handler) {
	if h != nil {
		_, path, _ := strings.Cut(pattern, " ")
		next = h.Route(path, next)
	}
	mux.Handle(pattern, next)
}

// Route wraps the handler of one route (a pattern, never the raw path, so
// the label stays bounded).
func (h *HTTP) Route(route string, next http.Handler) http.Handler {
	r := prometheus.Labels{"route": route}
	counted := promhttp.InstrumentHandlerDuration(h.duration.MustCurryWith(r),
		promhttp.InstrumentHandlerCounter(h.requests.MustCurryWith(r), next))
	if h.access == nil {
		return counted
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// A level that drops access lines (LOG_LEVEL=error) skips the
		// recorder and the line's arguments altogether.
		if !h.access.Enabled(req.Context(), slog.LevelInfo) {
			counted.ServeHTTP(w, req)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		counted.ServeHTTP(rec, req)
		h.access.Info("request", "route", route, "method", req.Method, "status", rec.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "remote", req.RemoteAddr, "user_agent", req.UserAgent(),
			"request_id", req.Header.Get(RequestIDHeader))
	})
}

// statusRecorder remembers the status code for the access log; the
// client library's own recorder is not exported.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
