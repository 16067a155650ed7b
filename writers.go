package fanout

import (
	"sync"
	"time"
)

// A subscriber's on-demand writer (see writeOnDemand) runs only while
// there is something to write. Started as a goroutine each time, it costs,
// when every message is its own write (a sequential publisher, a busy
// topic), a goroutine start and exit per delivery, and the growth of its
// new stack on the way to the socket: ~10% of a node's CPU at saturation.
// So a writer that is done parks for a while in its core's writerCache,
// and the next subscriber to need a writer wakes it instead. Idle
// subscribers still hold no goroutine: a parked writer belongs to the
// core, and exits after writerKeep without work, or when the core closes.

// writerKeep is how long a parked writer waits for work before it exits.
const writerKeep = time.Second

// writerCache holds a core's parked writers.
type writerCache struct {
	mu     sync.Mutex
	idle   []*parkedWriter // oldest first; the newest is woken first
	closed bool
	trim   *time.Timer // ends writers parked longer than writerKeep (set while any is)
	wg     sync.WaitGroup
}

// parkedWriter is a writer goroutine waiting for its next drain.
type parkedWriter struct {
	job   chan func() // capacity 1; nil: exit
	since time.Time   // when it parked
}

// run runs f, a subscriber's drain, on a parked writer, or on a new
// goroutine when none is parked.
func (wc *writerCache) run(f func()) {
	wc.mu.Lock()
	if n := len(wc.idle); n > 0 {
		w := wc.idle[n-1]
		wc.idle[n-1] = nil
		wc.idle = wc.idle[:n-1]
		wc.mu.Unlock()
		w.job <- f
		return
	}
	if wc.closed {
		// The core has closed: a subscription's last writer still runs,
		// without parking after.
		wc.mu.Unlock()
		go f()
		return
	}
	wc.wg.Add(1)
	wc.mu.Unlock()
	go wc.loop(f)
}

// spawn runs f, which starts writers, on a goroutine of its own that
// close waits for (or, once the core has closed, that the writers' own
// owners wait for, as run's): a large fan-out hands its writers' starts
// over, so that the publishing goroutine does not queue behind them for a
// P (see core.fanout).
func (wc *writerCache) spawn(f func()) {
	wc.mu.Lock()
	if wc.closed {
		wc.mu.Unlock()
		go f()
		return
	}
	wc.wg.Add(1)
	wc.mu.Unlock()
	go func() {
		defer wc.wg.Done()
		f()
	}()
}

// loop runs f, then the drains it is given while parked, until it has
// waited writerKeep for one, or the core closes.
func (wc *writerCache) loop(f func()) {
	defer wc.wg.Done()
	w := &parkedWriter{job: make(chan func(), 1)}
	for f != nil {
		f()
		f = nil // let the subscriber go while parked
		wc.mu.Lock()
		if wc.closed {
			wc.mu.Unlock()
			return
		}
		w.since = time.Now()
		wc.idle = append(wc.idle, w)
		if len(wc.idle) == 1 {
			wc.armLocked(writerKeep)
		}
		wc.mu.Unlock()
		f = <-w.job
	}
}

// armLocked makes the trim run in d; wc.mu is held.
func (wc *writerCache) armLocked(d time.Duration) {
	if wc.trim == nil {
		wc.trim = time.AfterFunc(d, wc.trimIdle)
		return
	}
	wc.trim.Reset(d)
}

// trimIdle ends the writers parked for writerKeep or more, and runs again
// when the oldest of the others will have been.
func (wc *writerCache) trimIdle() {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.closed {
		return
	}
	now := time.Now()
	n := 0
	for n < len(wc.idle) && now.Sub(wc.idle[n].since) >= writerKeep {
		wc.idle[n].job <- nil
		n++
	}
	rest := copy(wc.idle, wc.idle[n:])
	clear(wc.idle[rest:])
	wc.idle = wc.idle[:rest]
	if rest > 0 {
		wc.armLocked(writerKeep - now.Sub(wc.idle[0].since))
	}
}

// close ends the parked writers and waits for every writer the cache
// started; those still writing finish their drain first. Idempotent.
func (wc *writerCache) close() {
	wc.mu.Lock()
	wc.closed = true
	for _, w := range wc.idle {
		w.job <- nil
	}
	wc.idle = nil
	if wc.trim != nil {
		wc.trim.Stop()
	}
	wc.mu.Unlock()
	wc.wg.Wait()
}

// parked returns how many writers are parked.
func (wc *writerCache) parked() int {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return len(wc.idle)
}

// startWriters starts the on-demand writers of ss.
func startWriters(ss []*Subscriber) {
	for _, s := range ss {
		s.host.startWriter(s.drainFn)
	}
}

// fanoutInline is how many writers a fan-out starts on its own goroutine,
// at most: more start on one of the writer cache's (see core.fanout).
const fanoutInline = 256
