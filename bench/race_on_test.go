//go:build race

package main

// raceEnabled reports whether the race detector is on: the allocation test
// skips then (its instrumentation changes what allocates), and so does the
// go-sse peer (see racyPeers).
const raceEnabled = true
