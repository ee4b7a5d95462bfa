// Package freeport starts test servers on loopback ports that were free a
// moment ago. A port picked by binding :0 and closing the listener can be
// taken by another process (a parallel test package) before the server binds
// it; the programs the tests run (redis-server, postgres, etcd, the
// Kubernetes control plane) cannot be handed an open socket, so Start tries
// again with new ports when a server reports that its port was taken.
package freeport

import (
	"errors"
	"fmt"
	"net"
)

// ErrInUse marks a server that could not bind a port it was given, or found
// another process answering on it.
var ErrInUse = errors.New("port already in use")

// Pick returns n distinct loopback ports that were free when picked.
func Pick(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var open []net.Listener
	defer func() {
		for _, l := range open {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		// Holding every listener until all are picked keeps the n distinct.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a loopback port: %w", err)
		}
		open = append(open, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Attempts is how many sets of ports Start tries.
const Attempts = 5

// Start calls start with n ports from pick until it returns anything but an
// error wrapping ErrInUse, at most Attempts times, and returns the ports of
// the last try. pick is Pick outside tests.
func Start(n int, pick func(n int) ([]int, error), start func(ports []int) error) ([]int, error) {
	var err error
	for range Attempts {
		var ports []int
		if ports, err = pick(n); err != nil {
			return nil, err
		}
		if err = start(ports); !errors.Is(err, ErrInUse) {
			return ports, err
		}
	}
	return nil, fmt.Errorf("%d tries: %w", Attempts, err)
}
