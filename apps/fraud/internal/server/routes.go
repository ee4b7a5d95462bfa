package server

import "net/http"

// routes lists every endpoint.
func (s *Server) routes(mux *http.ServeMux) {
	mux.Handle("POST /v1/score", s.handleScore())

	mux.Handle("GET /v2", s.handleServerMetadata())
	mux.Handle("GET /v2/health/live", s.handleLive())
	mux.Handle("GET /v2/health/ready", s.handleReady())
	mux.Handle("GET /v2/models/{name}", s.handleModelMetadata())
	mux.Handle("GET /v2/models/{name}/ready", s.handleModelReady())
	mux.Handle("POST /v2/models/{name}/infer", s.handleInfer())

	// The platform's probe paths (apps/catalog).
	mux.Handle("GET /livez", s.handleLive())
	mux.Handle("GET /readyz", s.handleReady())

	mux.Handle("POST /admin/reload", s.handleReload())
}
