package mlflow_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/apps/orchestrator/internal/mlflow"
	"github.com/intelliflow/platform/apps/orchestrator/mlflowtest"
)

// TestRegistryContract: the client reads a version by alias and its run's
// latest metric, writes a tag, and tells a missing alias, a bad token and
// an answer that is not MLflow's apart.
func TestRegistryContract(t *testing.T) {
	srv := mlflowtest.Start("dev-only-token")
	defer srv.Close()
	srv.AddVersion("fraud", "3", "s3://models/run-9/model", "run-9", map[string]string{"sha256": "abc"}, map[string]float64{"pr_auc": 0.31})
	srv.SetAlias("fraud", "production", "3")
	c := &mlflow.Client{BaseURL: srv.URL, Token: srv.Token}
	ctx := context.Background()

	mv, err := c.VersionByAlias(ctx, "fraud", "production")
	require.NoError(t, err)
	require.Equal(t, "3", mv.Version)
	require.Equal(t, "s3://models/run-9/model", mv.Source)
	require.Equal(t, "abc", mv.Tag("sha256"))
	run, err := c.Run(ctx, mv.RunID)
	require.NoError(t, err)
	v, ok := run.Metric("pr_auc")
	require.True(t, ok)
	require.Equal(t, 0.31, v)
	_, ok = run.Metric("roc_auc")
	require.False(t, ok)
	require.NoError(t, c.SetVersionTag(ctx, "fraud", "3", "intelliflow.serving_version", "x-v3"))
	require.Equal(t, "x-v3", srv.Tag("fraud", "3", "intelliflow.serving_version"))

	_, err = c.VersionByAlias(ctx, "fraud", "staging")
	require.True(t, mlflow.NotFound(err), "%v", err)
	_, err = (&mlflow.Client{BaseURL: srv.URL, Token: "wrong"}).VersionByAlias(ctx, "fraud", "production")
	require.ErrorContains(t, err, "401 UNAUTHENTICATED")
	require.False(t, mlflow.NotFound(err))

	notMLflow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("name") == "html" {
			_, _ = w.Write([]byte("<html>login</html>"))
			return
		}
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}))
	defer notMLflow.Close()
	_, err = (&mlflow.Client{BaseURL: notMLflow.URL}).VersionByAlias(ctx, "html", "production")
	require.ErrorContains(t, err, "not the documented JSON")
	_, err = (&mlflow.Client{BaseURL: notMLflow.URL}).VersionByAlias(ctx, "fraud", "production")
	require.ErrorContains(t, err, "502 Bad Gateway: upstream connect error")
}
