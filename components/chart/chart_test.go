package chart

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func TestValidRepository(t *testing.T) {
	for _, ok := range []string{"https://charts.intelliflow.internal", "oci://registry.intelliflow.internal/charts", "https://mirror:8443/helm"} {
		require.NoError(t, ValidRepository(ok), ok)
	}
	for _, bad := range []string{"http://charts.example", "charts.example", "https://", "https://Charts.Example", "oci://x/y?z=1", ""} {
		require.Error(t, ValidRepository(bad), bad)
	}
}

// TestNew: a chart is pinned and comes from the mirror; nothing is
// registered when either is missing.
func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{Stack: "prod"}, func(ctx *pulumi.Context) error {
		if _, err := New(ctx, "bad", Args{Chart: "vault", Repository: "http://x", Namespace: pulumi.String("ns")}); err == nil {
			t.Error("an unpinned chart from an http repository was accepted")
		}
		_, err := New(ctx, "vault", Args{Chart: "vault", Version: "0.30.1", Release: "vault", Namespace: pulumi.String("intelliflow-security"),
			Repository: "https://charts.intelliflow.internal", Values: pulumi.Map{"a": pulumi.Int(1)}})
		return err
	})
	require.NoError(t, err)
	charts := mocks.OfType("kubernetes:helm.sh/v4:Chart")
	require.Len(t, charts, 1)
	c := charts[0]
	require.Equal(t, "0.30.1", c.Get("version"))
	require.Equal(t, "vault", c.Get("name"))
	require.Equal(t, "https://charts.intelliflow.internal", c.Get("repositoryOpts.repo"))
}
