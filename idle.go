package fanout

import (
	"io"
	"sync"
	"syscall"

	"github.com/fanout-go/fanout/internal/wsframe"
)

// What an idle subscriber holds. Its writer exists only while there is
// something to write (see writeOnDemand). Its reader, on a plain TCP
// connection where the core has a poller (Linux), exists only while the
// client is sending: the poller watches the socket and calls back when it
// is readable, and what the callback cannot finish at once (a message for
// coder/websocket to read, the rest of a pong that arrived in part) gets
// a goroutine of its own, which hands the socket back to the poller when
// it is done: the callback never waits for a client. Answers to the Hub's
// pings, which every idle WebSocket client sends, are taken off the socket
// by the callback itself when they have arrived whole. Elsewhere (TLS, a
// wrapped connection, another platform) each subscriber keeps one reader
// goroutine.

// connReader is a subscription's reader, as its teardown sees it.
type connReader interface {
	// stop makes the reader end once the connection is closed; done is
	// closed when it has.
	stop()
	done() <-chan struct{}
}

// goReader is a reader goroutine, which the connection's end ends.
type goReader chan struct{}

func (goReader) stop()                   {}
func (r goReader) done() <-chan struct{} { return r }
func startGoReader(read func()) connReader {
	r := make(goReader)
	go func() {
		defer close(r)
		read()
	}()
	return r
}

// readyResult is what a poll reader's callback did.
type readyResult uint8

const (
	readyRearm   readyResult = iota // done: watch the socket again
	readyHanded                     // a goroutine took over; it calls settle
	readyStopped                    // the connection ended, or is ending: watch no more
)

// pollReader is a reader that exists only when the socket is readable.
type pollReader struct {
	p       *poller
	rc      syscall.RawConn
	key     uint64
	onReady func(r *pollReader) readyResult // on the poller's goroutine: must not block

	mu       sync.Mutex
	running  bool          // the callback, or a goroutine it started, has the socket
	stopped  bool          // the teardown asked it to end
	finished bool          // stopped, and no longer running
	ch       chan struct{} // done's, made when asked for
}

// startPollReader watches rc with p, calling onReady when it is readable.
// It returns nil when the socket cannot be watched.
func startPollReader(p *poller, rc syscall.RawConn, onReady func(*pollReader) readyResult) *pollReader {
	return watchReader(p, &pollReader{p: p, rc: rc, onReady: onReady})
}

// startPollReaderHeld is startPollReader for a caller that must read first
// (bytes wait above the socket, which epoll cannot see): the socket is not
// watched until the caller gives it back with settle, and onReady is not
// called meanwhile.
func startPollReaderHeld(p *poller, rc syscall.RawConn, onReady func(*pollReader) readyResult) *pollReader {
	return watchReader(p, &pollReader{p: p, rc: rc, onReady: onReady, running: true})
}

func watchReader(p *poller, r *pollReader) *pollReader {
	if p.watch(r.rc, r, !r.running) != nil {
		return nil
	}
	return r
}

// fire runs on the poller's goroutine when the socket is readable.
func (r *pollReader) fire() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.running = true
	r.mu.Unlock()
	switch r.onReady(r) {
	case readyRearm:
		r.settle(true)
	case readyStopped:
		r.settle(false)
	}
}

// settle gives the socket back: to the poller (watch it again) when rearm
// is set and the reader goes on, or to no one.
func (r *pollReader) settle(rearm bool) {
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

func (r *pollReader) stop() {
	r.mu.Lock()
	r.stopped = true
	if !r.running {
		r.finishLocked()
	}
	r.mu.Unlock()
	r.p.forget(r.key)
}

// finishLocked records that the reader has ended; r.mu is held.
func (r *pollReader) finishLocked() {
	if !r.finished {
		r.finished = true
		if r.ch != nil {
			close(r.ch)
		}
	}
}

// done returns a channel closed once the reader has ended (made on
// demand: an idle subscriber holds none).
func (r *pollReader) done() <-chan struct{} {
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

// idleState is what the idle reader found at the head of a connection.
type idleState uint8

const (
	idleNone    idleState = iota // nothing (the whole pongs that were there are taken)
	idleMessage                  // coder/websocket must read: a message, a ping, a close, an error, the end
	idlePong                     // a pong has arrived in part: finishPong reads the rest, blocking
)

// takePongs takes the whole pong frames at the head of the socket rc off
// it, passing each one's payload to pong, and reports what follows:
// idleNone when nothing does, idlePong when a pong has begun to arrive
// (even its first byte alone), idleMessage when anything else does (a
// message, a ping, a close, the end of the connection) and coder/websocket
// must read it. It never blocks: it runs on the poller's goroutine.
func takePongs(rc syscall.RawConn, pong func(payload []byte)) idleState {
	var b [wsframe.MaxClientPong]byte
	for {
		n, err := recvNow(rc, b[:], true)
		if err != nil {
			return idleMessage // the read reports it
		}
		if n == 0 {
			return idleNone
		}
		size, ok := wsframe.ClientPong(b[:n])
		if !ok {
			return idleMessage
		}
		if size == 0 || n < size {
			return idlePong
		}
		if m, err := recvNow(rc, b[:size], false); err != nil || m != size {
			return idleMessage
		}
		pong(wsframe.PongPayload(b[:size]))
	}
}

// readPong reads the pong frame that has begun to arrive at the head of
// raw, and passes its payload to pong. It returns idleMessage when the
// frame, once its second byte is there, is not one the idle reader takes
// (unmasked, or too long for a control frame): the bytes it read are then
// put back in front of raw's, for coder/websocket to read (and refuse).
func readPong(raw *rawConn, pong func(payload []byte)) (idleState, error) {
	var b [wsframe.MaxClientPong]byte
	if _, err := io.ReadFull(raw, b[:2]); err != nil {
		return idleMessage, err
	}
	size, ok := wsframe.ClientPong(b[:2])
	if !ok {
		raw.unread(b[:2])
		return idleMessage, nil
	}
	if _, err := io.ReadFull(raw, b[2:size]); err != nil {
		return idleMessage, err
	}
	pong(wsframe.PongPayload(b[:size]))
	return idleNone, nil
}
