// Package mlflowtest serves the part of MLflow's 2.x REST API the
// orchestrator uses, from memory, on loopback: a model version by alias,
// a run with its metrics, a model version's tags. Answers follow MLflow's
// documented shapes, errors included ({"error_code", "message"} with
// RESOURCE_DOES_NOT_EXIST for a missing object), and every call needs the
// bearer token. The real server runs on Python, which these machines do
// not get; the orchestrator's tests and the local platform use this.
package mlflowtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/intelliflow/platform/apps/orchestrator/internal/mlflow"
)

// Server is a model registry.
type Server struct {
	URL   string
	Token string
	srv   *httptest.Server
	mux   *http.ServeMux
	mu    sync.Mutex
	// versions by model name and version; aliases by model and alias.
	versions map[string]map[string]*mlflow.ModelVersion
	aliases  map[string]map[string]string
	runs     map[string]mlflow.Run
}

// Start serves on a loopback port until Close.
func Start(token string) *Server {
	s := New(token)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// New is a registry for a server of the caller's (one with TLS, on
// another address); URL is the caller's to set.
func New(token string) *Server {
	s := &Server{Token: token, versions: map[string]map[string]*mlflow.ModelVersion{}, aliases: map[string]map[string]string{}, runs: map[string]mlflow.Run{}}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/2.0/mlflow/registered-models/alias", s.auth(s.byAlias))
	s.mux.HandleFunc("GET /api/2.0/mlflow/runs/get", s.auth(s.run))
	s.mux.HandleFunc("POST /api/2.0/mlflow/model-versions/set-tag", s.auth(s.setTag))
	return s
}

// ServeHTTP answers the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the server Start started.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// AddVersion registers version of model at source, made by a run with
// metrics, with tags.
func (s *Server) AddVersion(model, version, source, runID string, tags map[string]string, metrics map[string]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mv := &mlflow.ModelVersion{Name: model, Version: version, Source: source, RunID: runID, Status: "READY"}
	for k, v := range tags {
		mv.Tags = append(mv.Tags, mlflow.Tag{Key: k, Value: v})
	}
	if s.versions[model] == nil {
		s.versions[model] = map[string]*mlflow.ModelVersion{}
	}
	s.versions[model][version] = mv
	var run mlflow.Run
	run.Info.RunID, run.Info.Status, run.Info.ArtifactURI = runID, "FINISHED", source
	for k, v := range metrics {
		run.Data.Metrics = append(run.Data.Metrics, mlflow.Metric{Key: k, Value: v})
	}
	s.runs[runID] = run
}

// SetAlias points alias of model at version.
func (s *Server) SetAlias(model, alias, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aliases[model] == nil {
		s.aliases[model] = map[string]string{}
	}
	s.aliases[model][alias] = version
}

// Tag is a version's tag value.
func (s *Server) Tag(model, version, key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mv := s.versions[model][version]; mv != nil {
		return mv.Tag(key)
	}
	return ""
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.Token {
			fail(w, http.StatusUnauthorized, "UNAUTHENTICATED", "credentials are required")
			return
		}
		h(w, r)
	}
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}

func ok(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) byAlias(w http.ResponseWriter, r *http.Request) {
	name, alias := r.URL.Query().Get("name"), r.URL.Query().Get("alias")
	s.mu.Lock()
	defer s.mu.Unlock()
	version, found := s.aliases[name][alias]
	mv := s.versions[name][version]
	if !found || mv == nil {
		fail(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "Registered model alias "+alias+" not found.")
		return
	}
	out := *mv
	out.Aliases = []string{alias}
	ok(w, map[string]any{"model_version": out})
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, found := s.runs[r.URL.Query().Get("run_id")]
	if !found {
		fail(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "Run '"+r.URL.Query().Get("run_id")+"' not found")
		return
	}
	ok(w, map[string]any{"run": run})
}

func (s *Server) setTag(w http.ResponseWriter, r *http.Request) {
	var q struct{ Name, Version, Key, Value string }
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.Name == "" || q.Version == "" || q.Key == "" {
		fail(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "name, version and key are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mv := s.versions[q.Name][q.Version]
	if mv == nil {
		fail(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "Model Version (name="+q.Name+", version="+q.Version+") not found")
		return
	}
	for i, t := range mv.Tags {
		if t.Key == q.Key {
			mv.Tags[i].Value = q.Value
			ok(w, map[string]any{})
			return
		}
	}
	mv.Tags = append(mv.Tags, mlflow.Tag{Key: q.Key, Value: q.Value})
	ok(w, map[string]any{})
}
