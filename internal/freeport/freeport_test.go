package freeport

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPickGivesDistinctFreePorts(t *testing.T) {
	ports, err := Pick(6)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err, "port %d is free", p)
		require.NoError(t, l.Close())
	}
}

func TestStartRetriesOnlyATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	first := true
	pick := func(n int) ([]int, error) {
		if first {
			first = false
			return []int{taken.Addr().(*net.TCPAddr).Port}, nil
		}
		return Pick(n)
	}
	var tried []int
	ports, err := Start(1, pick, func(ports []int) error {
		tried = append(tried, ports[0])
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])))
		if err != nil {
			return errors.Join(ErrInUse, err)
		}
		return l.Close()
	})
	require.NoError(t, err)
	require.Len(t, tried, 2, "the taken port, then a free one")
	require.NotEqual(t, tried[0], ports[0])

	boom := errors.New("config error")
	_, err = Start(1, Pick, func([]int) error { return boom })
	require.ErrorIs(t, err, boom, "other errors are not retried")

	calls := 0
	_, err = Start(1, Pick, func([]int) error { calls++; return ErrInUse })
	require.ErrorIs(t, err, ErrInUse)
	require.Equal(t, Attempts, calls)
}
