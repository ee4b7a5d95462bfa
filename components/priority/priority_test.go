package priority

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/pulumitest"
)

func TestValidate(t *testing.T) {
	require.NoError(t, (&Args{Classes: []Class{Critical, Standard}}).Validate())
	require.ErrorContains(t, (&Args{}).Validate(), "at least one")
	require.ErrorContains(t, (&Args{Classes: []Class{Critical, Critical}}).Validate(), "not a unique DNS name")
	require.ErrorContains(t, (&Args{Classes: []Class{{Name: "x", Value: 2000000000}}}).Validate(), "reserved for the system")
}

func TestNew(t *testing.T) {
	mocks, err := pulumitest.Run(t, pulumitest.Options{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "priority", &Args{Classes: []Class{Critical, Standard}})
		return err
	})
	require.NoError(t, err)
	pcs := mocks.OfType("kubernetes:scheduling.k8s.io/v1:PriorityClass")
	require.Len(t, pcs, 2)
	crit, ok := mocks.Find("kubernetes:scheduling.k8s.io/v1:PriorityClass", "priority-intelliflow-critical")
	require.True(t, ok)
	require.Equal(t, 100000.0, crit.Get("value"))
	require.Equal(t, false, crit.Get("globalDefault"))
	require.Greater(t, Critical.Value, Standard.Value)
}
