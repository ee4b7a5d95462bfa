package passwords

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fast keeps the tests quick; the format and checks are the same.
var fast = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple", fast)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$"), h)
	h2, _ := Hash("correct horse battery staple", fast)
	require.NotEqual(t, h, h2, "a fresh salt every time")

	ok, rehash, err := Verify("correct horse battery staple", h, fast)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, rehash)
	ok, _, err = Verify("correct horse battery stapl", h, fast)
	require.NoError(t, err)
	require.False(t, ok)
	_, rehash, _ = Verify("correct horse battery staple", h, Default)
	require.True(t, rehash, "older parameters are upgraded at the next login")
}

// TestKnownVector: the reference implementation's own example ("password",
// salt "somesalt", m=65536, t=2, p=1) verifies, so stored hashes stay
// portable to any Argon2 library.
func TestKnownVector(t *testing.T) {
	ok, _, err := Verify("password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", Default)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestMalformedHashesAreRefused(t *testing.T) {
	for _, h := range []string{
		"", "plaintext", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$c2hvcnQ",
	} {
		_, _, err := Verify("x", h, fast)
		require.ErrorIs(t, err, ErrMalformed, h)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		_, _ = Hash("correct horse battery staple", Default)
	}
}

func TestPoolRefusesPastCapacity(t *testing.T) {
	p := NewPool(1, 20*time.Millisecond)
	hold, release := make(chan struct{}), make(chan struct{})
	go func() { _ = p.Do(context.Background(), func() { close(hold); <-release }) }()
	<-hold
	ran := false
	require.ErrorIs(t, p.Do(context.Background(), func() { ran = true }), ErrBusy)
	require.False(t, ran)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.wait = time.Hour
	require.ErrorIs(t, p.Do(ctx, func() { ran = true }), context.Canceled)
	close(release)
	p.wait = time.Second
	require.NoError(t, p.Do(context.Background(), func() { ran = true }))
	require.True(t, ran, "a slot freed is a slot used")
}
