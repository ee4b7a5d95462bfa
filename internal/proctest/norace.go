//go:build !race

package proctest

// Race is true when the test binary runs with the race detector.
const Race = false
