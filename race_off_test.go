//go:build !race

package fanout_test

// raceEnabled reports whether the race detector is on; strict allocation
// tests skip then, since its instrumentation changes what allocates.
const raceEnabled = false
