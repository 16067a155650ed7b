package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// streamListener accepts the demo's connections and watches the streaming
// ones: a WebSocket (its first write is a 101 response) or an SSE stream
// (its first write is a text/event-stream response head). It records every
// Write call the server makes on them, so a test can tell which messages
// left in one socket write, and it can hold their writes, so a test can let
// messages queue up behind a busy writer, or make a subscriber slow.
//
// The library writes a batch to a socket that is not a *net.TCPConn as one
// Write of a flattened copy (to a *net.TCPConn as one writev), so a Write
// here is a socket write there.
type streamListener struct {
	net.Listener

	watched // guards conns and their state
	conns   []*streamConn
}

// watched is state under one mutex whose changes can be waited for.
type watched struct {
	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, on every change
}

// notify wakes whoever waits on a change; w.mu must be held.
func (w *watched) notify() {
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
}

// wait returns a channel closed at the next change; w.mu must be held.
func (w *watched) wait() <-chan struct{} {
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	return w.changed
}

// await waits until cond, called with w.mu held, returns true.
func (w *watched) await(ctx context.Context, cond func() bool) error {
	for {
		w.mu.Lock()
		ok, ch := cond(), w.wait()
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *streamListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &streamConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns = append(l.conns, sc)
	l.mu.Unlock()
	return sc, nil
}

// live returns the open streaming connections of a kind ("ws" or "sse"),
// oldest first; l.mu must be held.
func (l *streamListener) live(kind string) []*streamConn {
	var out []*streamConn
	for _, c := range l.conns {
		if c.kind == kind && !c.closed {
			out = append(out, c)
		}
	}
	return out
}

// hold makes the writes of every open stream of kind wait until release.
func (l *streamListener) hold(kind string) []*streamConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.live(kind)
	for _, c := range cs {
		c.held = true
	}
	return cs
}

// release lets held writes go on.
func (l *streamListener) release(cs ...*streamConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		c.held = false
	}
	l.notify()
}

// streamConn is one accepted connection.
type streamConn struct {
	net.Conn
	l *streamListener

	// Guarded by l.mu.
	kind     string   // "", "http", "ws" or "sse", from the response heads written
	writes   [][]byte // a copy of each write on a stream
	held     bool
	blocked  bool      // a write is waiting for release
	deadline time.Time // the write deadline
	closed   bool
}

func (c *streamConn) Write(p []byte) (int, error) {
	l := c.l
	l.mu.Lock()
	if c.kind == "" || c.kind == "http" {
		// A kept-alive connection can serve pages first, then a stream.
		if k := classify(p); k != c.kind {
			c.kind = k
			l.notify()
		}
	}
	for c.held && !c.closed {
		wait := time.Duration(-1) // no deadline
		if !c.deadline.IsZero() {
			if wait = time.Until(c.deadline); wait <= 0 {
				l.mu.Unlock()
				return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
			}
		}
		c.blocked = true
		l.notify()
		changed := l.wait() // released, a new deadline, or closed
		l.mu.Unlock()
		if wait < 0 {
			<-changed
		} else {
			t := time.NewTimer(wait)
			select {
			case <-changed:
			case <-t.C:
			}
			t.Stop()
		}
		l.mu.Lock()
		c.blocked = false
	}
	if c.kind == "ws" || c.kind == "sse" {
		c.writes = append(c.writes, bytes.Clone(p))
		l.notify()
	}
	l.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *streamConn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

// setDeadline records the write deadline, which a held write obeys.
func (c *streamConn) setDeadline(t time.Time) {
	c.l.mu.Lock()
	c.deadline = t
	c.l.notify()
	c.l.mu.Unlock()
}

func (c *streamConn) Close() error {
	c.l.mu.Lock()
	c.closed = true
	c.l.notify()
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// classify names a connection by a response head the server writes on it.
func classify(p []byte) string {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		return "http"
	}
	head, _, _ := bytes.Cut(p, []byte("\r\n\r\n"))
	switch {
	case bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")):
		return "ws"
	case bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) &&
		bytes.Contains(bytes.ToLower(head), []byte("\r\ncontent-type: text/event-stream")):
		return "sse"
	}
	return "http"
}
