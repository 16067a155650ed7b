package client

import (
	"sync"
	"sync/atomic"
	"time"
)

// idleTimer gives up a connection whose server has been silent for
// IdleTimeout while the client waited for it: not a byte arrived, neither
// a message nor a Hub's ping nor a Broker's heartbeat. The time spent
// handing a message to Next does not count: then the application is
// slow, not the server silent (and the client reads nothing meanwhile).
//
// The reading goroutine calls touch for each read that returned bytes and
// hold and release around each hand-over: atomic stores, no timer work.
// The timer wakes once per IdleTimeout or so, and cuts the connection
// (its read fails) if it finds the silence long enough. A nil *idleTimer
// (IdleTimeout negative) does nothing.
type idleTimer struct {
	d     time.Duration
	start time.Time    // the origin of last
	last  atomic.Int64 // the last sign of life, in nanoseconds since start
	busy  atomic.Bool  // a message is being handed to Next
	fired atomic.Bool
	cut   func() // ends the connection; safe from any goroutine

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

// newIdleTimer starts the watch of a connection just established: it
// calls cut once the server has been silent for d. It returns nil for a
// d that is not positive.
func newIdleTimer(d time.Duration, cut func()) *idleTimer {
	if d <= 0 {
		return nil
	}
	w := &idleTimer{d: d, start: time.Now(), cut: cut}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(d, w.check)
	return w
}

// touch records a sign of life from the server.
func (w *idleTimer) touch() {
	if w != nil {
		w.last.Store(int64(time.Since(w.start)))
	}
}

// hold and release bracket the hand-over of a message to Next: the
// silence is counted again from its end.
func (w *idleTimer) hold() {
	if w != nil {
		w.busy.Store(true)
	}
}

func (w *idleTimer) release() {
	if w != nil {
		w.touch()
		w.busy.Store(false)
	}
}

// check runs when the timer fires: it cuts the connection if the server
// has been silent for d, and otherwise sets the timer for when it would
// have been.
func (w *idleTimer) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	quiet := time.Since(w.start) - time.Duration(w.last.Load())
	switch {
	case w.busy.Load():
		w.t.Reset(w.d)
	case quiet < w.d:
		w.t.Reset(w.d - quiet)
	default:
		w.fired.Store(true)
		w.cut()
	}
}

// expired reports whether the timer cut the connection.
func (w *idleTimer) expired() bool { return w != nil && w.fired.Load() }

// stop ends the watch; the timer does not cut the connection after it
// returns.
func (w *idleTimer) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}
