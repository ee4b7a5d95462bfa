// Package telemetry is the HTTP metrics every IntelliFlow service exports,
// so that the platform's SLO alerts and dashboards (components/monitoring)
// can rely on the same names everywhere: requests by route and status
// code, and their latency. It counts with the client library's vectors but
// not through promhttp's handler wrappers: those build a label map for
// every request (about 600 bytes and a hash of every label, measured on the
// fraud server's hot path), where a route's series are few and can be
// looked up once.
package telemetry

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
// the label stays bounded): it counts requests by method and status code,
// times them by method, and writes the access log line when one is set and
// its level is on.
func (h *HTTP) Route(route string, next http.Handler) http.Handler {
	r := &routeSeries{http: h, route: route, series: map[seriesKey]series{}}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, req)
		took := time.Since(start)
		s := r.get(req.Method, rec.status)
		s.requests.Inc()
		s.duration.Observe(took.Seconds())
		if h.access != nil && h.access.Enabled(req.Context(), slog.LevelInfo) {
			h.access.Info("request", "route", route, "method", req.Method, "status", rec.status,
				"duration_ms", float64(took.Microseconds())/1000, "remote", req.RemoteAddr, "user_agent", req.UserAgent(),
				"request_id", req.Header.Get(RequestIDHeader))
		}
	})
}

type seriesKey struct {
	method string
	code   int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// routeSeries caches a route's series by method and code: after the first
// request of each kind, a request costs a map lookup under a read lock.
type routeSeries struct {
	http   *HTTP
	route  string
	mu     sync.RWMutex
	series map[seriesKey]series
}

func (r *routeSeries) get(method string, code int) series {
	k := seriesKey{method, code}
	r.mu.RLock()
	s, ok := r.series[k]
	r.mu.RUnlock()
	if ok {
		return s
	}
	m := methodLabel(method)
	s = series{
		requests: r.http.requests.WithLabelValues(r.route, m, strconv.Itoa(code)),
		duration: r.http.duration.WithLabelValues(r.route, m),
	}
	if m == "other" {
		return s // not cached: a client may send any method name
	}
	r.mu.Lock()
	r.series[k] = s
	r.mu.Unlock()
	return s
}

// methodLabel is the method as promhttp labels it (lower case), with the
// methods HTTP does not define folded into "other" so that a client cannot
// make series at will.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return strings.ToLower(m)
	}
	return "other"
}

// statusRecorder remembers the status code a handler wrote. Unwrap lets
// http.ResponseController reach the connection's Flush and deadlines (the
// gateway's proxy streams through it).
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader && code >= 200 {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
