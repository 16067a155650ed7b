package fanout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/wsconn"
	"golang.org/x/time/rate"
)

// wsReader reads one WebSocket subscriber's messages: on a goroutine of
// its own, or, where the Hub's poller can watch the socket, only while
// the client is sending (see connReader).
type wsReader struct {
	h    *Hub
	s    *Subscriber
	conn *websocket.Conn
	sk   *wsSink
	ctx  context.Context
	lim  *rate.Limiter // Limits.MessageRate, or nil
}

// startReader starts reading s's client.
func (h *Hub) startReader(ctx context.Context, s *Subscriber, conn *websocket.Conn, sk *wsSink) connReader {
	r := &wsReader{h: h, s: s, conn: conn, sk: sk, ctx: ctx}
	if l := h.opts.Limits; l.MessageRate > 0 {
		r.lim = rate.NewLimiter(rate.Limit(l.MessageRate), l.MessageBurst)
	}
	if p := h.c.poller(); p != nil {
		rc, ok := sock.Pollable(sk.raw.Conn)
		if !ok {
			var tc *tls.Conn
			if tc, rc, ok = sock.PollableTLS(sk.raw.Conn); ok {
				sk.tls = tc // before the reader starts: see tlsLook
			}
		}
		if ok {
			// What the client sent with its request (a ping, a message in
			// the same segment) may already wait above the socket, read
			// ahead by net/http: epoll, which sees only the socket, would
			// never report it. It is read first, as if the socket had
			// fired.
			if sk.idleLook(rc, nil) != wsconn.IdleNone {
				if pr := sock.StartReaderHeld(p, rc, r.ready); pr != nil {
					go r.drain(pr)
					return pr
				}
			} else if pr := sock.StartReader(p, rc, r.ready); pr != nil {
				return pr
			}
		}
	}
	return startGoReader(func() {
		s.fail(endClient, r.loop()) // the client went away, or sent what ends it
	})
}

// loop reads messages until the connection fails or ctx ends, parking on
// a shallow stack in between (see wsSink.awaitReadable). It returns only
// then, with why: never nil.
func (r *wsReader) loop() error {
	for {
		if err := r.sk.awaitReadable(r.pong); err != nil {
			return err
		}
		if err := r.next(); err != nil {
			return err
		}
	}
}

// next reads one message and hands it to OnMessage. It returns an error
// when the subscription must end. A text message that is not valid UTF-8
// (checked whole, so a rune split across fragments is fine) ends it with
// status 1007, as RFC 6455 (section 8.1) requires: it never reaches
// OnMessage, and so never another client.
func (r *wsReader) next() error {
	h, s := r.h, r.s
	typ, data, err := r.conn.Read(r.ctx)
	if err != nil {
		return err
	}
	if r.lim != nil && !r.lim.Allow() {
		if h.opts.Limits.OverRate == RateClose {
			err := fmt.Errorf("%w: more than %g messages per second", ErrRateLimited, h.opts.Limits.MessageRate)
			s.fail(endRate, err)
			return err
		}
		h.c.stats.inboundDropped.Add(1)
		return nil
	}
	if typ == websocket.MessageText && !utf8.Valid(data) {
		err := fmt.Errorf("%w: client sent a text message that is not valid UTF-8", ErrInvalidMessage)
		s.fail(endBadData, err)
		return err
	}
	if h.opts.OnMessage != nil {
		m := NewMessage(data)
		if typ == websocket.MessageBinary {
			m.typ = Binary
		}
		return h.onMessage(r.ctx, s, m)
	}
	return nil
}

// pong takes a pong that the reader read itself.
func (r *wsReader) pong(payload []byte) {
	r.sk.pong()
	if r.h.userPong != nil {
		r.h.userPong(r.ctx, payload)
	}
}

// ready is the poller's callback, which must not block: whole pongs are
// taken at once; the rest of a pong that arrived in part is read by
// finishPong, anything else by drain, each on a goroutine of its own.
func (r *wsReader) ready(pr *sock.Reader) sock.Result {
	if r.sk.tls != nil {
		go r.readTLS(pr) // only crypto/tls can tell a pong from a message
		return sock.Handed
	}
	switch r.sk.idleLook(pr.RC(), r.pong) {
	case wsconn.IdleNone:
		return sock.Rearm
	case wsconn.IdlePong:
		go r.finishPong(pr)
	default:
		go r.drain(pr)
	}
	return sock.Handed
}

// finishPong reads the rest of a pong that arrived in part (within
// pongReadTimeout: a client that stays silent mid-frame is ended), then
// gives the socket back (see settle).
func (r *wsReader) finishPong(pr *sock.Reader) { r.settle(pr, wsconn.IdlePong) }

// drain reads, on a goroutine of its own, what ready could not: messages,
// while any are there; then it gives the socket back (see settle).
func (r *wsReader) drain(pr *sock.Reader) { r.settle(pr, wsconn.IdleMessage) }

// settle runs on a goroutine that has the socket, which the idle reader
// found in state st: it reads what must be read (messages, through
// coder/websocket; the rest of a pong) until nothing is left above the
// socket, then gives the socket back to the poller; or to no one when the
// subscription ends.
//
// It takes the pongs that follow the messages itself (see idleLook,
// tlsLook), since a pong left for coder/websocket would keep this
// goroutine parked in its read until the client's next message; and it
// looks again after a pong, which may have come with more behind it.
func (r *wsReader) settle(pr *sock.Reader, st wsconn.IdleState) {
	pong := r.pong
	for {
		var err error
		switch st {
		case wsconn.IdleNone:
			pr.Settle(true)
			return
		case wsconn.IdlePong:
			st, err = r.sk.finishPong(pong)
			if err == nil && st == wsconn.IdleNone {
				st = r.sk.idleLook(pr.RC(), pong)
			}
		default:
			if err = r.next(); err == nil {
				st = r.sk.idleLook(pr.RC(), pong)
			}
		}
		if err != nil {
			r.s.fail(endClient, err)
			pr.Settle(false)
			return
		}
	}
}

// What an idle subscriber holds. Its writer exists only while there is
// something to write (see writeOnDemand). Its reader, on a plain TCP
// connection where the core has a poller (Linux), exists only while the
// client is sending: the poller watches the socket and calls back when it
// is readable, and what the callback cannot finish at once (a message for
// coder/websocket to read, the rest of a pong that arrived in part) gets
// a goroutine of its own, which hands the socket back to the poller when
// it is done: the callback never waits for a client. Answers to the Hub's
// pings, which every idle WebSocket client sends, are taken off the socket
// by the callback itself when they have arrived whole. Over TLS the same
// holds, but a pong is read through crypto/tls on a goroutine that lives
// only meanwhile (see hub_reader_tls.go). Elsewhere (a wrapped connection
// without Unwrap, HTTP/2, another platform) each subscriber keeps one
// reader goroutine.

// connReader is a subscription's reader, as its teardown sees it.
type connReader interface {
	// Stop makes the reader end once the connection is closed; Done is
	// closed when it has.
	Stop()
	Done() <-chan struct{}
}

// goReader is a reader goroutine, which the connection's end ends.
type goReader chan struct{}

func (goReader) Stop()                   {}
func (r goReader) Done() <-chan struct{} { return r }
func startGoReader(read func()) connReader {
	r := make(goReader)
	go func() {
		defer close(r)
		read()
	}()
	return r
}

// awaitReadable returns once the client has sent something other than a
// pong that the reader has not taken yet (or its connection ended),
// parking the calling goroutine with a shallow stack meanwhile, and taking
// pongs (which every idle client sends, to the Hub's pings) off the socket
// itself, passing their payloads to pong: an idle subscriber's reader then
// holds a small stack, not the depth of coder/websocket's reading code,
// which would park in its read after a pong. Where the socket cannot be
// watched (TLS, a wrapped connection, a platform without MSG_PEEK), and
// once the close handshake has begun, it returns at once and the read
// blocks.
func (w *wsSink) awaitReadable(pong func([]byte)) error {
	rc, ok := sock.Pollable(w.raw.Conn)
	if !ok {
		return nil
	}
	for {
		if w.idleLook(rc, nil) != wsconn.IdleNone {
			return nil
		}
		err := rc.Read(sock.PeekReadable) // parks until the socket is readable
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		if err != nil {
			return nil // the read reports it
		}
		st := w.idleLook(rc, pong)
		if st == wsconn.IdlePong {
			if st, err = w.finishPong(pong); err != nil {
				return err
			}
		}
		if st != wsconn.IdleNone {
			return nil
		}
	}
}

// idleLook looks at the connection for the idle reader, without blocking:
// wsconn.IdleMessage when coder/websocket must read (bytes wait in a buffer above
// the socket, or something other than a pong is there, or the close
// handshake has begun), wsconn.IdlePong when a pong has arrived in part (see
// finishPong), wsconn.IdleNone when there is nothing (after taking the whole
// pongs off the socket, when pong is set).
//
// With pong set, whole pongs are taken from the buffers above the socket
// too: what coder/websocket read ahead past the message it returned (a
// pong that came with it) goes back in front of wsconn's pending bytes
// (point 3 of coder.go), where the pongs at their head are taken. Left to
// coder/websocket, a pong would keep its reader parked, after taking it,
// until the client's next message.
func (w *wsSink) idleLook(rc syscall.RawConn, pong func([]byte)) wsconn.IdleState {
	w.idleMu.Lock()
	defer w.idleMu.Unlock()
	if w.closing {
		return wsconn.IdleMessage
	}
	if n := w.br.Buffered(); n > 0 {
		if pong == nil {
			return wsconn.IdleMessage
		}
		b, _ := w.br.Peek(n)
		w.raw.Unread(b)
		_, _ = w.br.Discard(n)
	}
	if w.tls != nil {
		return w.tlsLook(pong)
	}
	if w.raw.HasPending() {
		if pong == nil {
			return wsconn.IdleMessage
		}
		if st := wsconn.TakePendingPongs(w.raw, pong); st != wsconn.IdleNone {
			return st
		}
	}
	if pong == nil {
		return wsconn.IdleNone
	}
	return wsconn.TakePongs(rc, pong)
}

// finishPong reads the rest of a pong that idleLook found arrived in part,
// within pongReadTimeout, and passes its payload to pong. It blocks: never
// on the poller's goroutine, which serves every idle connection, but on
// one of the connection's own, which exists only meanwhile. It returns
// wsconn.IdleMessage when coder/websocket must read after all (the frame is not
// a pong the idle reader takes, or the close handshake has begun).
func (w *wsSink) finishPong(pong func([]byte)) (wsconn.IdleState, error) {
	w.idleMu.Lock()
	defer w.idleMu.Unlock()
	if w.closing {
		return wsconn.IdleMessage, nil
	}
	_ = w.raw.SetReadDeadline(time.Now().Add(pongReadTimeout))
	defer w.raw.SetReadDeadline(time.Time{})
	return wsconn.ReadPong(w.raw, pong)
}

// pongReadTimeout bounds the wait for the rest of a pong frame that
// arrived in part.
const pongReadTimeout = 5 * time.Second

// serve runs a subscriber the Hub accepted: a reader (see hub_reader.go) and
// on-demand writers (see writeOnDemand), all counted by the subscription
// (core.add). It reports the end only once the connect hooks have
// returned (hooked).
func (h *Hub) serve(ctx context.Context, cancel context.CancelCauseFunc, s *Subscriber, conn *websocket.Conn, sk *wsSink, hooked <-chan struct{}) {
	r := h.startReader(withSink(ctx, sk), s, conn, sk)
	s.writeOnDemand(ctx, func(why endReason, err error) {
		cancel(nil) // the connection is closed: a read in progress ends
		r.Stop()
		<-r.Done()
		<-hooked
		h.disconnected(s, why, err)
	})
}

// onMessage runs OnMessage; a panic ends this subscriber (status 1011).
func (h *Hub) onMessage(ctx context.Context, s *Subscriber, m *Message) (err error) {
	defer h.c.recovered("OnMessage", s, &err)
	h.opts.OnMessage(ctx, s, m)
	return nil
}
