package fanout

import (
	"errors"
	"net"
	"syscall"
)

// awaitReadable returns once the client has sent something that the
// reader has not taken yet (or its connection ended), parking the calling
// goroutine with a shallow stack meanwhile: an idle subscriber's reader
// then holds a small stack, not the depth of coder/websocket's reading
// code. Where the socket cannot be watched (TLS, a wrapped connection, a
// platform without MSG_PEEK), it returns at once and the read blocks.
func (w *wsSink) awaitReadable() error {
	if w.br != nil && w.br.Buffered() > 0 || w.raw.hasPending() {
		return nil
	}
	sc, ok := w.raw.Conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	err = rc.Read(peekReadable)
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil // the read reports anything else
}

// hasPending reports whether bytes that net/http had buffered are still
// to be read; only the reader calls it.
func (c *rawConn) hasPending() bool { return len(c.pending) > 0 }
