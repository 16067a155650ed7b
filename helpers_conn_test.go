package fanout_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout/internal/testkit"
)

// dialTinyBuffer opens a raw TCP connection to addr with a tiny receive
// buffer (4 KiB), so that the server's writes to it stall soon once the
// test stops reading. It is closed when the test ends.
func dialTinyBuffer(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// countingListener wraps each accepted connection in a countingConn.
type countingListener struct {
	net.Listener
	conns   chan *countingConn
	netConn bool // connections have NetConn (see unwrappable)
	unwrap  bool // connections have Unwrap (see unwrapConn)
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c, closed: make(chan struct{}), pastDeadline: make(chan struct{})}
	select {
	case l.conns <- cc:
	default: // more connections than any test tracks
	}
	switch {
	case l.netConn:
		return unwrappable{cc}, nil
	case l.unwrap:
		return unwrapConn{cc}, nil
	}
	return cc, nil
}

// unwrapConn is a countingConn that gives its TCP connection through
// Unwrap, promising (as fanout asks) that it buffers nothing it read.
type unwrapConn struct{ *countingConn }

func (u unwrapConn) Unwrap() net.Conn { return u.Conn }

// unwrappable is a countingConn that, like *tls.Conn, gives its TCP
// connection through NetConn.
type unwrappable struct{ *countingConn }

func (u unwrappable) NetConn() net.Conn { return u.Conn }

// countingConn is the server side of a real TCP connection that counts the
// Write calls made on it (and the bytes read) and can hold one of them, to stall the Hub's
// writer at a known point without stalling the client.
type countingConn struct {
	net.Conn
	writes atomic.Int64 // Write calls, counted on entry
	bytes  atomic.Int64 // bytes written
	read   atomic.Int64 // bytes read from the client

	gate testkit.Gate // holds the next Write, when asked

	closed    chan struct{}
	closeOnce sync.Once

	pastDeadline chan struct{} // closed once a write deadline in the past is set (a write aborted)
	pastOnce     sync.Once
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() && time.Until(t) < 0 {
		c.pastOnce.Do(func() { close(c.pastDeadline) })
	}
	return c.Conn.SetWriteDeadline(t)
}

// hold makes the next Write wait until release is called (or the
// connection is closed). entered is closed once that Write is waiting.
func (c *countingConn) hold() (entered <-chan struct{}, release func()) { return c.gate.Hold() }

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	if err := c.gate.Pass(c.closed); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.bytes.Add(int64(n))
	return n, err
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// msg is one message as a client received it.
