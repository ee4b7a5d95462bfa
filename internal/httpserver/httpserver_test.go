package httpserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/envconfig"
	"github.com/intelliflow/platform/internal/servicetest"
	"github.com/intelliflow/platform/internal/telemetry"
)

type served struct {
	api, metrics string
	stop         func() error
	logs         *servicetest.Logs
}

// serve runs Run on loopback with the handler and dependency check, its
// standard keys read from env as a service reads them.
func serve(t *testing.T, h http.Handler, check func(context.Context) error, drain time.Duration, env ...string) served {
	t.Helper()
	vars := map[string]string{"SHUTDOWN_DRAIN": drain.String()}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	svc := servicetest.Start(t, "httpserver", func(ctx context.Context, getenv func(string) string, stdout io.Writer, listening chan<- string) error {
		r := envconfig.New(getenv)
		std := ReadStandard(r)
		if err := r.Err(); err != nil {
			return err
		}
		reg := prometheus.NewRegistry()
		return Run(ctx, Config{
			Standard: std, Handler: h, Registry: reg, Health: NewHealth(check),
			Log: std.Logger(stdout), MaxBody: 1024, HTTP: telemetry.NewHTTP(reg, "test"), Listening: Announce(listening),
		})
	}, vars)
	return served{api: svc.API, metrics: svc.Metrics, stop: svc.Stop, logs: svc.Logs}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProbesAndRequestIDs(t *testing.T) {
	var down atomic.Bool
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		func(context.Context) error {
			if down.Load() {
				return errors.New("postgres: connection refused")
			}
			return nil
		}, time.Millisecond)

	code, _ := get(t, s.api+"/livez")
	require.Equal(t, 200, code)
	code, _ = get(t, s.api+"/readyz")
	require.Equal(t, 200, code)
	down.Store(true)
	code, body := get(t, s.api+"/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "postgres: connection refused", "readiness says which dependency")
	code, _ = get(t, s.api+"/livez")
	require.Equal(t, 200, code, "liveness never looks past the process")

	resp, err := http.Get(s.api + "/anything")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	require.Len(t, resp.Header.Get(telemetry.RequestIDHeader), 32)
	code, body = get(t, s.metrics+"/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, `http_requests_total{code="503",method="get",route="/readyz",service="test"} 1`)
}

func TestLimitsAndPanics(t *testing.T) {
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/read":
			if _, err := io.ReadAll(r.Body); err != nil {
				var tooBig *http.MaxBytesError
				require.ErrorAs(t, err, &tooBig)
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}), nil, time.Millisecond)

	code, body := get(t, s.api+"/panic")
	require.Equal(t, 500, code)
	require.Contains(t, body, "internal error")
	require.NotContains(t, body, "boom", "no internals to the client")
	require.Contains(t, s.logs.String(), `"panic":"boom"`)
	code, _ = get(t, s.api+"/livez")
	require.Equal(t, 200, code, "a panic takes one request down, not the server")

	resp, err := http.Post(s.api+"/read", "application/json", strings.NewReader(strings.Repeat("x", 2048)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 413, resp.StatusCode, "declared length over the limit")
	resp, err = http.Post(s.api+"/read", "application/json", io.MultiReader(strings.NewReader(strings.Repeat("x", 2048))))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 413, resp.StatusCode, "a chunked body is cut at the limit")

	req, _ := http.NewRequest(http.MethodGet, s.api+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("h", 64<<10))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

// TestShutdownFailsReadinessThenDrains: after the signal, readiness fails
// at once while requests are still served; a request in flight when the
// listeners close still gets its answer.
func TestShutdownFailsReadinessThenDrains(t *testing.T) {
	release := make(chan struct{})
	s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}), nil, 500*time.Millisecond)

	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(s.api + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	require.Eventually(t, func() bool { code, _ := get(t, s.api+"/readyz"); return code == 503 }, 2*time.Second, 10*time.Millisecond)
	code, _ := get(t, s.api+"/other")
	require.Equal(t, 200, code, "still serving while endpoints catch up")
	close(release)
	require.Equal(t, 200, <-slow, "the in-flight request finished")
	require.NoError(t, <-stopped)
	_, err := http.Get(s.api + "/livez")
	require.Error(t, err, "closed after the drain")
}

func TestRunRefusesAnIncompleteConfig(t *testing.T) {
	require.ErrorContains(t, Run(context.Background(), Config{}), "Handler, Registry, Health and Log are required")
}

// TestProfilingOnlyWhenAsked: profiles are served on the metrics listener
// with DEBUG_PPROF=true, nowhere without it, and never on the API.
func TestProfilingOnlyWhenAsked(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	off := serve(t, ok, nil, time.Millisecond)
	code, _ := get(t, off.metrics+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code)
	on := serve(t, ok, nil, time.Millisecond, "DEBUG_PPROF", "true")
	code, body := get(t, on.metrics+"/debug/pprof/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "goroutine")
	code, _ = get(t, on.metrics+"/debug/pprof/heap")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, on.api+"/debug/pprof/")
	require.Equal(t, http.StatusNoContent, code, "the API's handler answers, not pprof")
	_, _ = get(t, on.api+"/livez")
	require.NoError(t, on.stop())
	require.Contains(t, on.logs.String(), "profiling on")
}
