package pgtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/freeport"
)

// TestStartSurvivesATakenPort hands Start the port of a running PostgreSQL,
// as a parallel test package might take it between the pick and the bind:
// with the same superuser and trust authentication the other server would
// let the test in, so Start must tell it apart and move on.
func TestStartSurvivesATakenPort(t *testing.T) {
	other := Start(t)
	handed := false
	pick = func(n int) ([]int, error) {
		if !handed {
			handed = true
			return []int{other.Port}, nil
		}
		return freeport.Pick(n)
	}
	t.Cleanup(func() { pick = freeport.Pick })

	mine := Start(t)
	require.True(t, handed)
	require.NotEqual(t, other.Port, mine.Port)
	ctx := context.Background()
	_, err := mine.Connect(t, mine.Superuser, "", "postgres").Exec(ctx, "CREATE DATABASE mine")
	require.NoError(t, err)
	var n int
	require.NoError(t, other.Connect(t, other.Superuser, "", "postgres").QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'mine'").Scan(&n))
	require.Zero(t, n, "the two servers are distinct")
}
