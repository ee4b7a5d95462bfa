// Package server is the fraud inference server's HTTP API: the domain
// endpoint POST /v1/score, the Open Inference Protocol (KServe v2) endpoints
// tools expect, health, and an admin reload. It scores with the registry's
// current model over features from the feature store, and never fails a
// request because the store is slow: it scores degraded instead.
package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/internal/registry"
	"github.com/intelliflow/platform/internal/httpserver"
	"github.com/intelliflow/platform/internal/telemetry"
)

// Features reads a card's history and queues updates; the Redis store
// implements it.
type Features interface {
	Read(ctx context.Context, card string, tx features.Transaction) (features.History, features.Known)
	Enqueue(card string, tx features.Transaction)
}

// Thresholds turn a score into a decision.
type Thresholds struct {
	// Review and Decline are the lowest scores that get each decision.
	Review, Decline float64
}

// The decisions; review and decline are published as alerts.
const (
	DecisionApprove = "approve"
	DecisionReview  = "review"
	DecisionDecline = "decline"
)

// Decide returns approve, review or decline.
func (t Thresholds) Decide(score float64) string {
	switch {
	case score >= t.Decline:
		return DecisionDecline
	case score >= t.Review:
		return DecisionReview
	default:
		return DecisionApprove
	}
}

// Server holds the API's dependencies.
type Server struct {
	modelName  string
	models     *registry.Registry
	features   Features // nil: no store, every request scores on what it carries
	thresholds Thresholds
	metrics    *Metrics
	http       *telemetry.HTTP
	log        *slog.Logger
	health     *httpserver.Health
	alerts     Alerts
	reloadAuth func(http.Handler) http.Handler
	fetch      func(ctx context.Context, version, sha256 string) error
}

// Alerts receives every review and decline decision (alerts.Publisher:
// to Kafka, never waiting on it).
type Alerts interface{ Publish(alerts.Alert) }

// Config assembles a Server.
type Config struct {
	ModelName  string
	Models     *registry.Registry
	Features   Features
	Thresholds Thresholds
	Metrics    *Metrics
	// HTTP counts and times every route; nil leaves them uninstrumented.
	HTTP *telemetry.HTTP
	Log  *slog.Logger
	// Health answers the Open Inference Protocol's health calls; the
	// platform's probe paths are httpserver's.
	Health *httpserver.Health
	// Alerts, when set, is handed each review and decline decision.
	Alerts Alerts
	// ReloadAuth guards /admin/reload (kubeauth.Require: the
	// orchestrator's ServiceAccount only); nil refuses every caller.
	ReloadAuth func(http.Handler) http.Handler
	// Fetch, when set, puts a version from the serving path into the
	// model folder (a reload that names one); nil refuses such reloads.
	Fetch func(ctx context.Context, version, sha256 string) error
}

// New returns the server, ready to serve.
func New(c Config) *Server {
	s := &Server{modelName: c.ModelName, models: c.Models, features: c.Features, thresholds: c.Thresholds, metrics: c.Metrics, http: c.HTTP, log: c.Log, health: c.Health, alerts: c.Alerts, reloadAuth: c.ReloadAuth, fetch: c.Fetch}
	if s.health == nil {
		s.health = httpserver.NewHealth(nil)
	}
	s.metrics.ModelLoaded(c.Models.Current())
	return s
}

// Handler is the API's routes; httpserver adds the middleware every
// service has (request ids, limits, panic recovery) and the probe paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	return mux
}
