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

	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, whenever a conn's state changes
	conns   []*streamConn
}

func newStreamListener(ln net.Listener) *streamListener {
	return &streamListener{Listener: ln, changed: make(chan struct{})}
}

func (l *streamListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &streamConn{Conn: c, l: l, release: make(chan struct{})}
	l.mu.Lock()
	l.conns = append(l.conns, sc)
	l.mu.Unlock()
	return sc, nil
}

// notify wakes whoever waits on a change; l.mu must be held.
func (l *streamListener) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// await waits until cond, called with l.mu held, returns true.
func (l *streamListener) await(ctx context.Context, cond func() bool) error {
	for {
		l.mu.Lock()
		ok, ch := cond(), l.changed
		l.mu.Unlock()
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

// streams returns the streaming connections of a kind ("ws" or "sse") so
// far, oldest first; l.mu must be held.
func (l *streamListener) streams(kind string) []*streamConn {
	var out []*streamConn
	for _, c := range l.conns {
		if c.kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// live returns the open streaming connections of a kind; l.mu must be held.
func (l *streamListener) live(kind string) []*streamConn {
	var out []*streamConn
	for _, c := range l.streams(kind) {
		if !c.closed {
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
		if c.held {
			c.held = false
			close(c.release)
			c.release = make(chan struct{})
		}
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
	blocked  bool          // a write is waiting for release
	release  chan struct{} // closed on release
	deadline time.Time     // the write deadline
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
		if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			l.mu.Unlock()
			return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
		}
		var expire <-chan time.Time
		if !c.deadline.IsZero() {
			t := time.NewTimer(time.Until(c.deadline))
			defer t.Stop()
			expire = t.C
		}
		rel, changed := c.release, l.changed
		c.blocked = true
		l.notify()
		l.mu.Unlock()
		select {
		case <-rel:
		case <-changed: // a new deadline, or closed
		case <-expire:
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
