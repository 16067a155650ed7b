package sock

import (
	"sync"
	"syscall"
)

// Result is what a Reader's callback did.
type Result uint8

const (
	Rearm   Result = iota // done: watch the socket again
	Handed                // a goroutine took over; it calls Settle
	Stopped               // the connection ended, or is ending: watch no more
)

// Reader is a socket's reader that exists only when the socket is
// readable: the poller calls its callback then, on the poller's goroutine,
// and the callback either finishes at once (Rearm, Stopped) or hands the
// socket to a goroutine of its own (Handed), which gives it back with
// Settle.
type Reader struct {
	p       *Poller
	rc      syscall.RawConn
	key     uint64
	onReady func(r *Reader) Result // on the poller's goroutine: must not block

	mu       sync.Mutex
	running  bool          // the callback, or a goroutine it started, has the socket
	stopped  bool          // the teardown asked it to end
	finished bool          // stopped, and no longer running
	ch       chan struct{} // done's, made when asked for
}

// StartReader watches rc with p, calling onReady when it is readable.
// It returns nil when the socket cannot be watched.
func StartReader(p *Poller, rc syscall.RawConn, onReady func(*Reader) Result) *Reader {
	return watchReader(p, &Reader{p: p, rc: rc, onReady: onReady})
}

// StartReaderHeld is StartReader for a caller that must read first
// (bytes wait above the socket, which epoll cannot see): the socket is not
// watched until the caller gives it back with Settle, and onReady is not
// called meanwhile.
func StartReaderHeld(p *Poller, rc syscall.RawConn, onReady func(*Reader) Result) *Reader {
	return watchReader(p, &Reader{p: p, rc: rc, onReady: onReady, running: true})
}

func watchReader(p *Poller, r *Reader) *Reader {
	if p.watch(r.rc, r, !r.running) != nil {
		return nil
	}
	return r
}

// fire runs on the poller's goroutine when the socket is readable.
func (r *Reader) fire() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.running = true
	r.mu.Unlock()
	switch r.onReady(r) {
	case Rearm:
		r.Settle(true)
	case Stopped:
		r.Settle(false)
	}
}

// Settle gives the socket back: to the poller (watch it again) when rearm
// is set and the reader goes on, or to no one.
func (r *Reader) Settle(rearm bool) {
	r.mu.Lock()
	r.running = false
	stopped := r.stopped
	if stopped {
		r.finishLocked()
	}
	r.mu.Unlock()
	if stopped {
		return
	}
	if rearm && r.p.rearm(r.rc, r.key) == nil {
		return
	}
	// The socket is closed (or ending): nothing more will come; the
	// teardown's stop closes done.
}

// Stop makes the reader end: at once when the callback (or a goroutine
// it handed the socket to) does not have the socket, else when it gives
// it back with Settle.
func (r *Reader) Stop() {
	r.mu.Lock()
	r.stopped = true
	if !r.running {
		r.finishLocked()
	}
	r.mu.Unlock()
	r.p.forget(r.key)
}

// finishLocked records that the reader has ended; r.mu is held.
func (r *Reader) finishLocked() {
	if !r.finished {
		r.finished = true
		if r.ch != nil {
			close(r.ch)
		}
	}
}

// Done returns a channel closed once the reader has ended (made on
// demand: an idle subscriber holds none).
func (r *Reader) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch == nil {
		r.ch = make(chan struct{})
		if r.finished {
			close(r.ch)
		}
	}
	return r.ch
}

// RC returns the socket r reads.
func (r *Reader) RC() syscall.RawConn { return r.rc }
