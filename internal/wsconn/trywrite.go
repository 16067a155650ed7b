package wsconn

import (
	"net"
	"os"
	"syscall"
	"time"
)

// Setting a write deadline before every write and clearing it after costs
// two SetWriteDeadline calls, each taking the poller's lock and moving a
// timer: ~6% of a node's CPU when every message is its own write. But a
// write can only stall once the socket's send buffer is full, and until
// then it needs no deadline. So writeTimed first writes what fits without
// waiting, and only the rest, where there is one, waits under a deadline,
// of the whole timeout from then: a stalled write still fails once it has
// waited timeout, and Abort (a deadline in the past) still interrupts it.

// writeTimed writes p, waiting at most timeout for room in the socket's
// send buffer. The socket has no write deadline (c.noDeadline), and c.mu
// is held.
func (c *Conn) writeTimed(p []byte, timeout time.Duration) (int, error) {
	n, err := c.try.write(c.Conn, p)
	if err != nil || n == len(p) {
		return n, err
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	defer c.clearDeadline()
	if c.aborted.Load() {
		// Abort came first: its deadline in the past was just replaced
		// (one that comes after the check replaces this one).
		return n, ErrAborted
	}
	m, err := c.Conn.Write(p[n:])
	return n + m, err
}

// tryWriter writes to a socket what fits in its send buffer, without
// waiting.
type tryWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // t.writeFd, bound once: passing it allocates nothing
	p   []byte                // what fn writes
	n   int                   // what it wrote
	err error                 // and how it failed
}

// newTryWriter returns a tryWriter for c, or nil where c has no file
// descriptor to write to.
func newTryWriter(c net.Conn) *tryWriter {
	sc, ok := c.(syscall.Conn)
	if !ok || !canTry {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	t := &tryWriter{rc: rc}
	t.fn = t.writeFd
	return t
}

// write writes the part of p that the socket takes at once, and returns
// its length: 0 when its send buffer is full. It fails as c.Write would:
// on a closed connection, a deadline passed (Abort's), a write error.
func (t *tryWriter) write(c net.Conn, p []byte) (int, error) {
	t.p = p
	err := t.rc.Write(t.fn) // the poller's checks (closed, deadline), then fn once
	n, werr := t.n, t.err
	t.p, t.n, t.err = nil, 0, nil
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return n, &net.OpError{Op: "write", Net: c.LocalAddr().Network(), Source: c.LocalAddr(),
			Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	}
	return n, nil
}
