package redistest

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/intelliflow/platform/internal/freeport"
)

// TestStartSurvivesATakenPort hands Start the port of a running Redis, as
// a parallel test package might take it between the pick and the bind: the
// new server must neither fail nor hand back the other server.
func TestStartSurvivesATakenPort(t *testing.T) {
	other, _ := Start(t)
	_, port, err := net.SplitHostPort(other)
	require.NoError(t, err)
	taken, _ := strconv.Atoi(port)
	handed := false
	pick = func(n int) ([]int, error) {
		if !handed {
			handed = true
			return []int{taken}, nil
		}
		return freeport.Pick(n)
	}
	t.Cleanup(func() { pick = freeport.Pick })

	mine, _ := Start(t)
	require.True(t, handed)
	require.NotEqual(t, other, mine)
	ctx := context.Background()
	a, b := redis.NewClient(&redis.Options{Addr: other}), redis.NewClient(&redis.Options{Addr: mine})
	defer a.Close()
	defer b.Close()
	require.NoError(t, b.Set(ctx, "owner", "mine", 0).Err())
	require.ErrorIs(t, a.Get(ctx, "owner").Err(), redis.Nil, "the two servers are distinct")
}
