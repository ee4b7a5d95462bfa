//go:build race

package proctest

// Race is true when the test binary runs with the race detector: the
// binaries it builds should carry it too.
const Race = true
