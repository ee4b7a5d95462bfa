package kubeauth

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/devcluster/devclustertest"
)

const audience = "intelliflow-fraud"

// TestOnlyTheAllowedWorkloadPasses asks a real API server: the allowed
// ServiceAccount's token for the audience passes and is named in the
// context; another ServiceAccount's is a 403; the allowed one's token for
// another audience, a garbage token and no token are 401s.
func TestOnlyTheAllowedWorkloadPasses(t *testing.T) {
	_, _, client := devclustertest.Start(t, 1, 0)
	orchestrator := "system:serviceaccount:intelliflow-prod:orchestrator"

	reviewer := NewReviewer(client, audience, 30*time.Second)
	var seen string
	h := Require(reviewer, []string{orchestrator}, slog.New(slog.NewTextHandler(io.Discard, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = Caller(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	call := func(token string) int {
		req := httptest.NewRequest(http.MethodPost, "/admin/reload", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}

	require.Equal(t, http.StatusNoContent, call(devclustertest.Token(t, client, "intelliflow-prod", "orchestrator", audience)))
	require.Equal(t, orchestrator, seen)
	require.Equal(t, http.StatusForbidden, call(devclustertest.Token(t, client, "intelliflow-prod", "analytics", audience)))
	require.Equal(t, http.StatusUnauthorized, call(devclustertest.Token(t, client, "intelliflow-prod", "orchestrator", "vault")), "a token for another audience")
	require.Equal(t, http.StatusUnauthorized, call(devclustertest.Token(t, client, "intelliflow-prod", "orchestrator")), "a token for the API server itself")
	require.Equal(t, http.StatusUnauthorized, call("not.a.token"))
	require.Equal(t, http.StatusUnauthorized, call(""))
}
