package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// tally is what one measured receiving end counts: a client of the
// single-node runs, or a subscriber of the nodes runs.
type tally struct {
	lat []int64 // latency samples (ns); preallocated, owned by the reader

	got       atomic.Int64 // measured messages received
	last      atomic.Int64 // when the last one arrived (ns, on the clock the run stamps messages with)
	warm      atomic.Int64 // 1 + the highest warm-up sequence number seen
	misorder  atomic.Int64 // duplicates or messages out of order
	malformed atomic.Int64
	finished  atomic.Bool
}

// take decodes a message's payload; a malformed one is counted, and not
// ok.
func (c *tally) take(b []byte) (decoded, bool) {
	d := decode(b)
	if !d.ok {
		c.malformed.Add(1)
	}
	return d, d.ok
}

// warmUp notes that warm-up message seq arrived.
func (c *tally) warmUp(seq int) {
	if w := int64(seq) + 1; w > c.warm.Load() {
		c.warm.Store(w)
	}
}

// measured counts a measured message that arrived at t, due at due, and
// reports whether it is the want-th.
func (c *tally) measured(t, due time.Duration, want int64) bool {
	if len(c.lat) < cap(c.lat) {
		c.lat = append(c.lat, int64(t-due))
	}
	c.last.Store(int64(t))
	return c.got.Add(1) == want
}

// tallies is a fleet's measured receiving ends, and allDone, closed once
// every one of them is finished (it has every message, or its connection
// ended).
type tallies struct {
	members   []*tally
	remaining atomic.Int64
	allDone   chan struct{}
}

func (f *tallies) init(members []*tally) {
	f.members = members
	f.remaining.Store(int64(len(members)))
	f.allDone = make(chan struct{})
}

// finish marks c as finished.
func (f *tallies) finish(c *tally) {
	if c.finished.CompareAndSwap(false, true) && f.remaining.Add(-1) == 0 {
		close(f.allDone)
	}
}

// delivered returns how many measured messages the receiving ends have
// received.
func (f *tallies) delivered() int64 {
	var n int64
	for _, c := range f.members {
		n += c.got.Load()
	}
	return n
}

// warmed reports how many receiving ends have seen a warm-up message
// numbered at least seq.
func (f *tallies) warmed(seq int) int {
	n := 0
	for _, c := range f.members {
		if c.warm.Load() > int64(seq) {
			n++
		}
	}
	return n
}

// waitAtMost waits for wg, or for d: a fleet's close does not hang on a
// reader that a peer's bug keeps blocked.
func waitAtMost(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
