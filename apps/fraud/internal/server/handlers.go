package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/intelliflow/platform/apps/fraud/alerts"
	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/internal/jsonapi"
	"github.com/intelliflow/platform/internal/kubeauth"
)

// maxBody bounds request bodies: a score request is a few hundred bytes; a
// v2 batch of 1000 rows is under 1 MB.
const maxBody = 1 << 20

func writeError(w http.ResponseWriter, status int, msg string) {
	jsonapi.Write(w, status, map[string]string{"error": msg})
}

// ScoreRequest is one transaction to score.
type ScoreRequest struct {
	TransactionID string    `json:"transaction_id"`
	CardID        string    `json:"card_id"`
	Amount        float64   `json:"amount"`
	Currency      string    `json:"currency"`
	MerchantID    string    `json:"merchant_id"`
	Timestamp     time.Time `json:"timestamp"`
	Location      *struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	} `json:"location"`
}

func (q ScoreRequest) validate() error {
	var errs []string
	if q.CardID == "" || len(q.CardID) > 128 || strings.ContainsAny(q.CardID, "{}\x00") {
		errs = append(errs, "card_id: required, at most 128 characters, no braces")
	}
	if !(q.Amount > 0 && q.Amount <= 10_000_000) {
		errs = append(errs, fmt.Sprintf("amount: %v, want more than 0 and at most 10000000", q.Amount))
	}
	if len(q.MerchantID) > 128 {
		errs = append(errs, "merchant_id: at most 128 characters")
	}
	if q.Currency != "" && len(q.Currency) != 3 {
		errs = append(errs, "currency: an ISO 4217 code like EUR")
	}
	if q.Location != nil && (math.Abs(q.Location.X) > 1e6 || math.Abs(q.Location.Y) > 1e6) {
		errs = append(errs, "location: out of range")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Reason is one feature that pushed the score up.
type Reason = alerts.Reason

// ScoreResponse is the verdict.
type ScoreResponse struct {
	TransactionID string   `json:"transaction_id,omitempty"`
	Score         float64  `json:"score"`
	Decision      string   `json:"decision"`
	Reasons       []Reason `json:"reasons"`
	Model         struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"model"`
	Degraded bool `json:"degraded"`
}

func (s *Server) handleScore() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var q ScoreRequest
		if err := jsonapi.DecodeBody(w, r, maxBody, &q); err != nil {
			s.metrics.Rejected.Inc()
			jsonapi.Fail(w, err)
			return
		}
		if err := q.validate(); err != nil {
			s.metrics.Rejected.Inc()
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		if q.Timestamp.IsZero() {
			q.Timestamp = time.Now().UTC()
		}
		tx := features.Transaction{Time: q.Timestamp, Amount: q.Amount, MerchantID: q.MerchantID}
		if q.Location != nil {
			tx.X, tx.Y, tx.HasLocation = q.Location.X, q.Location.Y, true
		}
		var h features.History
		var known features.Known
		if s.features != nil {
			h, known = s.features.Read(r.Context(), q.CardID, tx)
		}
		x, degraded := features.Vector(tx, h, known)

		m := s.models.Current() // this request stays on this model
		contribs, err := m.Contributions(x[:])
		if err != nil {
			s.log.Error("scoring failed", "model", m.Version, "err", err)
			writeError(w, http.StatusInternalServerError, "scoring failed")
			return
		}
		margin := 0.0
		for _, c := range contribs {
			margin += c
		}
		resp := ScoreResponse{TransactionID: q.TransactionID, Score: 1 / (1 + math.Exp(-margin)), Degraded: degraded}
		resp.Decision = s.thresholds.Decide(resp.Score)
		resp.Reasons = topReasons(contribs[:len(contribs)-1], 3)
		resp.Model.Name, resp.Model.Version = s.modelName, m.Version
		if s.features != nil {
			s.features.Enqueue(q.CardID, tx)
		}
		if s.alerts != nil && resp.Decision != DecisionApprove {
			s.alerts.Publish(alerts.Alert{OccurredAt: time.Now().UTC(), TransactionID: q.TransactionID, CardID: q.CardID,
				Amount: q.Amount, Currency: q.Currency, MerchantID: q.MerchantID, Score: resp.Score, Decision: resp.Decision,
				Model: alerts.Model{Name: s.modelName, Version: m.Version}, Reasons: resp.Reasons, Degraded: degraded})
		}
		s.metrics.Observe(m, resp.Score, resp.Decision, degraded, time.Since(start))
		// Checked first: the arguments alone cost allocations per request
		// when the level (LOG_LEVEL=error in production) drops the line.
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			s.log.Info("prediction", "transaction_id", q.TransactionID, "score", resp.Score, "decision", resp.Decision,
				"model", s.modelName, "model_version", m.Version, "degraded", degraded)
		}
		jsonapi.Write(w, http.StatusOK, resp)
	})
}

// topReasons are the features that raised the score most.
func topReasons(contribs []float64, n int) []Reason {
	var out []Reason
	for i, c := range contribs {
		if c > 0 {
			out = append(out, Reason{Feature: features.Names[i], Contribution: math.Round(c*1e4) / 1e4})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Contribution > out[j].Contribution })
	if len(out) > n {
		out = out[:n]
	}
	if out == nil {
		out = []Reason{}
	}
	return out
}

func (s *Server) handleReload() http.Handler {
	if s.reloadAuth == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.log.Warn("audit", "action", "model.reload", "actor", "unverified", "source_ip", sourceIP(r), "outcome", "refused")
			writeError(w, http.StatusForbidden, "reload is off here (RELOAD_CALLERS is not set); new models load on their own every MODEL_RELOAD_INTERVAL")
		})
	}
	return s.reloadAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The orchestrator names the version it promoted: fetched from the
		// serving path and verified first. Without a body the newest
		// version already in the model folder is loaded.
		var want struct {
			Version string `json:"version"`
			SHA256  string `json:"sha256"`
		}
		if r.ContentLength != 0 {
			if err := jsonapi.DecodeBody(w, r, 4<<10, &want); err != nil {
				jsonapi.Fail(w, err)
				return
			}
		}
		switch {
		case want.Version == "" && want.SHA256 == "":
		case s.fetch == nil:
			writeError(w, http.StatusConflict, "this server has no serving path to fetch from (MODEL_SOURCE is not set)")
			return
		case !modelversion.ValidVersion(want.Version) || !modelversion.ValidSHA256(want.SHA256):
			writeError(w, http.StatusBadRequest, "version must be a version name and sha256 64 lower-case hex digits")
			return
		default:
			if err := s.fetch(r.Context(), want.Version, want.SHA256); err != nil {
				actor := kubeauth.Caller(r.Context())
				s.log.Warn("audit", "action", "model.reload", "actor", actor, "source_ip", sourceIP(r), "outcome", "refused",
					"model_version", want.Version, "error", err.Error())
				jsonapi.Write(w, http.StatusConflict, map[string]any{"error": err.Error(), "serving": s.models.Current().Version})
				return
			}
		}
		switched, err := s.models.Reload()
		cur := s.models.Current()
		if err == nil && want.Version != "" && cur.Version != want.Version {
			err = fmt.Errorf("version %s is in the model folder but %s is newer and serves; versions load newest name first", want.Version, cur.Version)
		}
		// An operator action on what scores payments: an audit event, with
		// who and from where.
		outcome := map[bool]string{true: "switched", false: "unchanged"}[switched]
		if err != nil {
			outcome = "refused"
		}
		// Who: the ServiceAccount the API server vouched for.
		actor := kubeauth.Caller(r.Context())
		s.log.Info("audit", "action", "model.reload", "actor", actor, "source_ip", sourceIP(r), "outcome", outcome, "model_version", cur.Version)
		if err != nil {
			jsonapi.Write(w, http.StatusConflict, map[string]any{"error": err.Error(), "serving": cur.Version})
			return
		}
		if switched {
			s.metrics.ModelLoaded(cur)
		}
		jsonapi.Write(w, http.StatusOK, map[string]any{"switched": switched, "serving": cur.Version})
	}))
}

// sourceIP is the client's address: the first X-Forwarded-For hop the
// ingress sets, else the connection's peer.
func sourceIP(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		return strings.TrimSpace(first)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
