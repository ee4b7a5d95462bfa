package passwords

import (
	"context"
	"errors"
	"time"
)

// ErrBusy is a hash that found no free slot in time: the caller answers
// 503 at once rather than queueing a request that would time out anyway.
var ErrBusy = errors.New("password hashing is at capacity")

// Pool bounds how many hashes run at once. Each Argon2id hash holds a core
// and 19 MiB for about 30 ms; without a bound, a burst of logins past what
// the cores hold makes every login slow and then time out (BenchmarkUsers:
// at twice the capacity, goodput fell to a fifth of it). With one, the
// logins the cores can hold are served and the rest are refused quickly.
type Pool struct {
	slots chan struct{}
	wait  time.Duration
}

// NewPool runs at most n hashes at once; a hash waits at most wait for a
// slot.
func NewPool(n int, wait time.Duration) *Pool {
	return &Pool{slots: make(chan struct{}, max(1, n)), wait: wait}
}

// Do runs f in a slot, or returns ErrBusy (or ctx's error) without running
// it.
func (p *Pool) Do(ctx context.Context, f func()) error {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	f()
	return nil
}
