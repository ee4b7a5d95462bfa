package server

import "net/http"

// routes lists every endpoint.
func (s *Server) routes(mux *http.ServeMux) {
	// Every route is counted and timed under its pattern (the platform's
	// http_* metrics, internal/telemetry), never under the raw path.
	handle := func(pattern string, h http.Handler) { s.http.Handle(mux, pattern, h) }
	handle("POST /v1/score", s.handleScore())

	handle("GET /v2", s.handleServerMetadata())
	handle("GET /v2/health/live", s.health.Live())
	handle("GET /v2/health/ready", s.health.Ready())
	handle("GET /v2/models/{name}", s.handleModelMetadata())
	handle("GET /v2/models/{name}/ready", s.handleModelReady())
	handle("POST /v2/models/{name}/infer", s.handleInfer())

	handle("POST /admin/reload", s.handleReload())
}
