package fanout

import (
	"errors"
	"syscall"

	"github.com/fanout-go/fanout/internal/sock"
	ssewire "github.com/fanout-go/fanout/internal/sse"
	"github.com/fanout-go/fanout/internal/wsconn"
)

// startWatcher watches an SSE client for its going away, and for what it
// sends that it should not (see ssewire.WatchClient): with the core's poller when
// it can watch the socket, so an idle stream holds no goroutine, or on a
// goroutine of its own.
func (b *Broker) startWatcher(s *Subscriber, raw *wsconn.Conn) connReader {
	if p := b.c.poller(); p != nil {
		if rc, sent, ok := watchable(raw); ok {
			pr := sock.StartReader(p, rc, func(pr *sock.Reader) sock.Result {
				var buf [512]byte
				for {
					n, err := sock.RecvNow(pr.RC(), buf[:], false)
					if err == nil && n == 0 {
						return sock.Rearm // nothing more for now
					}
					if err == nil {
						if sent += n; sent <= ssewire.MaxClientBytes {
							continue
						}
						err = ssewire.ErrClientSends
					}
					b.clientGone(s, raw, err)
					return sock.Stopped
				}
			})
			if pr != nil {
				return pr
			}
		}
	}
	return startGoReader(func() { b.clientGone(s, raw, ssewire.WatchClient(raw)) })
}

// watchable returns the socket of an SSE client's connection when the
// poller can watch it, and how many bytes the client sent after its
// request that were read above the socket: by net/http, and over TLS by
// crypto/tls (plaintext, or records it holds whole; see
// sock.ReadBuffered).
//
// Over TLS the watcher then reads the records' ciphertext off the socket
// under crypto/tls, which nothing reads again: an EventSource sends
// nothing after its request, so what comes (a close_notify alert, or
// bytes it should not send) counts as sent, and the client's going away
// is the socket's end. A client that sends close_notify but keeps its
// side of TCP open is then noticed when it closes it, or when a write
// fails.
func watchable(raw *wsconn.Conn) (syscall.RawConn, int, bool) {
	if rc, ok := sock.Pollable(raw.Conn); ok {
		return rc, raw.DropPending(), true
	}
	tc, rc, ok := sock.PollableTLS(raw.Conn)
	if !ok {
		return nil, 0, false
	}
	var b [512]byte
	sent := 0
	for {
		n, err := sock.ReadBuffered(tc, b[:])
		if err != nil {
			return nil, 0, false // the watcher goroutine's read reports it
		}
		if n == 0 {
			return rc, sent + raw.DropPending(), true
		}
		sent += n
	}
}

// clientGone ends s, whose client went away (err says how) or sent too
// much.
func (b *Broker) clientGone(s *Subscriber, raw *wsconn.Conn, err error) {
	if errors.Is(err, ssewire.ErrClientSends) {
		b.opts.Logger.Debug("fanout: SSE client keeps sending after its request", "subscriber", s.id, "remote", raw.RemoteAddr())
	}
	s.fail(endClient, err)
}
