package fanout

import (
	"errors"
	"os"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/wsconn"
)

// An idle WebSocket subscriber over TLS (HTTP/1.1, on Linux) holds no
// goroutine either: the poller watches the socket under its *tls.Conn
// (sock.PollableTLS), but only once nothing waits above that socket, in
// crypto/tls (records read whole or in part, plaintext not yet returned)
// or in the buffers above it (coder/websocket's bufio.Reader, wsconn's
// pending bytes): tlsLook finds out without blocking, with
// sock.ReadBuffered. A record that has arrived in part stays in
// crypto/tls, and its rest makes the socket readable when it comes.
//
// Pongs cannot be peeked in ciphertext: when the socket is readable,
// readTLS, on a goroutine that lives only meanwhile, reads through
// crypto/tls what has come, puts the plaintext in front of coder/websocket
// (wsconn.Conn.Append), takes the whole pongs off it, and hands the
// socket back to the poller, or to drain when a message is there.

// readTLS reads, on a goroutine of its own, what made a TLS subscriber's
// socket readable, then gives the socket back (see settle).
func (r *wsReader) readTLS(pr *sock.Reader) { r.settle(pr, r.sk.readTLS(r.pong)) }

// readTLS reads through crypto/tls what has come on the socket (the
// socket is readable: a record, or its rest, is there or on its way,
// within pongReadTimeout), and looks at it as tlsLook does.
func (w *wsSink) readTLS(pong func([]byte)) wsconn.IdleState {
	w.idleMu.Lock()
	defer w.idleMu.Unlock()
	if w.closing {
		return wsconn.IdleMessage
	}
	var b [512]byte
	_ = w.tls.SetReadDeadline(time.Now().Add(pongReadTimeout))
	n, err := w.tls.Read(b[:])
	_ = w.tls.SetReadDeadline(time.Time{})
	w.raw.Append(b[:n])
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return wsconn.IdleMessage // coder/websocket's read reports it: crypto/tls keeps it
	}
	// A deadline passed: a record still in part, which crypto/tls keeps
	// (its error is not kept); its rest makes the socket readable again.
	return w.tlsLook(pong)
}

// tlsLook is idleLook over TLS (w.idleMu held; coder/websocket's
// bufio.Reader is empty): it moves what crypto/tls holds above the socket
// into wsconn's pending bytes, without blocking, and reports IdleNone only
// when nothing is left there: with pong set, after taking the whole pongs
// at their head.
func (w *wsSink) tlsLook(pong func([]byte)) wsconn.IdleState {
	var b [512]byte
	for {
		n, err := sock.ReadBuffered(w.tls, b[:])
		w.raw.Append(b[:n])
		if err != nil {
			return wsconn.IdleMessage // coder/websocket's read reports it
		}
		if n == 0 {
			break
		}
	}
	if pong == nil {
		if w.raw.HasPending() {
			return wsconn.IdleMessage
		}
		return wsconn.IdleNone
	}
	return wsconn.TakePendingPongs(w.raw, pong)
}
