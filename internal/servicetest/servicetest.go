// Package servicetest runs a service's run function inside the test's
// process, the way every service's main test does: on loopback ports the
// kernel picks, its log lines kept for the test to read, stopped (and its
// error returned) once, whether by the test or at cleanup.
package servicetest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/telemetry"
	"github.com/prometheus/client_golang/prometheus"
)

// Run is a service's run function: it serves until ctx is done, reading
// its configuration through getenv and writing its log to stdout, and
// sends "API-ADDR METRICS-ADDR" on listening once it serves.
type Run func(ctx context.Context, getenv func(string) string, stdout io.Writer, listening chan<- string) error

// Loopback is the environment every test service starts from: both ports
// picked by the kernel on 127.0.0.1, and no drain wait at shutdown.
var Loopback = map[string]string{"BIND_ADDRESS": "127.0.0.1", "HTTP_PORT": "0", "METRICS_PORT": "0", "SHUTDOWN_DRAIN": "10ms"}

// Service is one running service.
type Service struct {
	// API and Metrics are base URLs ("http://127.0.0.1:PORT").
	API, Metrics string
	Logs         *Logs
	// Stop stops the service and returns run's error; safe to call twice
	// (a test stops it to read its last lines, cleanup stops the rest).
	Stop func() error
}

// Start runs name's run with Loopback overlaid by env, and fails the test
// if it does not serve within 30 s.
func Start(t testing.TB, name string, run Run, env map[string]string) Service {
	t.Helper()
	all := map[string]string{}
	for _, m := range []map[string]string{Loopback, env} {
		for k, v := range m {
			all[k] = v
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan error, 1)
	logs := &Logs{}
	go func() { done <- run(ctx, func(k string) string { return all[k] }, logs, listening) }()
	select {
	case addrs := <-listening:
		api, metrics, _ := strings.Cut(addrs, " ")
		s := Service{API: "http://" + api, Metrics: "http://" + metrics, Logs: logs}
		s.Stop = sync.OnceValue(func() error { cancel(); return <-done })
		t.Cleanup(func() { _ = s.Stop() })
		return s
	case err := <-done:
		cancel()
		t.Fatalf("%s did not start: %v\n%s", name, err, logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("%s did not start in 30 s\n%s", name, logs)
	}
	return Service{}
}

// Logs is a log sink the service's goroutines and the test share.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// RequireCatalogMetrics fails t unless reg, holding the service's own
// metrics, exports every metric the service's catalog entry names (the
// contract the alerts and dashboards are checked against) and the HTTP
// metrics every service has. It adds those HTTP metrics itself and
// serves one request through them, since a vector exports nothing before
// its first series; the service's own vectors must have one already.
func RequireCatalogMetrics(t testing.TB, reg *prometheus.Registry, service string) {
	t.Helper()
	telemetry.NewHTTP(reg, service).Route("/", http.NotFoundHandler()).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	svc, err := catalog.Get(service)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append(append([]string{}, svc.Metrics...), catalog.HTTPMetrics...) {
		if !slices.Contains(names, want) {
			t.Errorf("%s: the catalog names %s, the registry does not export it (it has %v)", service, want, names)
		}
	}
}
