// Package sock is the socket plumbing under fanout's connections: a
// poller that watches idle sockets for readability (epoll, on Linux) and
// the Reader it calls back, non-blocking peeks and reads, closing with a
// reset (SO_LINGER 0), the bytes a peer has not acknowledged, and the
// kernel send buffer. It knows nothing of WebSocket, SSE, topics or
// subscribers.
package sock

import (
	"errors"
	"net"
	"syscall"
)

var (
	// ErrPollerClosed is why a socket cannot be watched by a closed Poller.
	ErrPollerClosed = errors.New("fanout: poller closed")
	// ErrNoPoller is NewPoller's error where there is no poller.
	ErrNoPoller = errors.New("fanout: no poller on this platform")
)

// Pollable returns the socket of c when a Poller can watch it: a plain
// TCP connection, or one under wrappers that promise, by an Unwrap method
// (see Unwrap), to keep no read bytes of their own. Not TLS, nor another
// wrapper: their bytes may wait in a buffer of theirs that the socket's
// readiness does not show.
func Pollable(c net.Conn) (syscall.RawConn, bool) {
	tc, ok := Unwrap(c).(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	return rc, err == nil
}

// Unwrap returns the connection under c's read-transparent wrappers: it
// follows Unwrap() net.Conn methods down, and returns c when it has none.
//
// An Unwrap method is a wrapper's promise that its Read returns what the
// connection under it returns, as it returns it: it may count bytes or
// watch them, but it keeps none it read for a later Read (no buffering,
// no read-ahead, no decoding such as TLS), and Close closes that
// connection. *tls.Conn gives its connection through NetConn, not Unwrap,
// since its records wait in its own buffer.
func Unwrap(c net.Conn) net.Conn {
	for range 8 { // wrappers do not nest deeper; a cycle must not hang us
		u, ok := c.(interface{ Unwrap() net.Conn })
		if !ok {
			break
		}
		inner := u.Unwrap()
		if inner == nil {
			break
		}
		c = inner
	}
	return c
}

// SetSendBuffer sets c's kernel send buffer to n bytes when n is positive
// and c (or what it wraps, see TCPOf) can; best effort: the kernel may
// clamp it.
func SetSendBuffer(c net.Conn, n int) {
	if n <= 0 {
		return
	}
	if sb, ok := TCPOf(c).(interface{ SetWriteBuffer(int) error }); ok {
		_ = sb.SetWriteBuffer(n)
	}
}
