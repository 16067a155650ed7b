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
// TCP connection (not TLS, not wrapped: their bytes may wait in a buffer
// of theirs that the socket's readiness does not show).
func Pollable(c net.Conn) (syscall.RawConn, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	return rc, err == nil
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
