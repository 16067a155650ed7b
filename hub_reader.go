package fanout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout/internal/sock"
	ssewire "github.com/fanout-go/fanout/internal/sse"
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
		if rc, ok := sock.Pollable(sk.raw.Conn); ok {
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
// gives the socket back to the poller, or to drain when coder/websocket
// must read.
func (r *wsReader) finishPong(pr *sock.Reader) {
	st, err := r.sk.finishPong(r.pong)
	switch {
	case err != nil:
		r.s.fail(endClient, err)
		pr.Settle(false)
	case st == wsconn.IdleMessage:
		r.drain(pr)
	default:
		pr.Settle(true)
	}
}

// drain reads, on a goroutine of its own, what ready could not: messages,
// while any are there; then it gives the socket back to the poller.
func (r *wsReader) drain(pr *sock.Reader) {
	for {
		if err := r.next(); err != nil {
			r.s.fail(endClient, err)
			pr.Settle(false)
			return
		}
		if r.sk.idleLook(pr.RC(), nil) == wsconn.IdleNone {
			pr.Settle(true)
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
// by the callback itself when they have arrived whole. Elsewhere (TLS, a
// wrapped connection, another platform) each subscriber keeps one reader
// goroutine.

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
func (w *wsSink) idleLook(rc syscall.RawConn, pong func([]byte)) wsconn.IdleState {
	w.idleMu.Lock()
	defer w.idleMu.Unlock()
	if w.closing || w.br.Buffered() > 0 || w.raw.HasPending() {
		return wsconn.IdleMessage
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

// startWatcher watches an SSE client for its going away, and for what it
// sends that it should not (see ssewire.WatchClient): with the core's poller when
// it can watch the socket, so an idle stream holds no goroutine, or on a
// goroutine of its own.
func (b *Broker) startWatcher(s *Subscriber, raw *wsconn.Conn) connReader {
	if p := b.c.poller(); p != nil {
		if rc, ok := sock.Pollable(raw.Conn); ok {
			sent := raw.DropPending() // read by net/http after the request
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

// clientGone ends s, whose client went away (err says how) or sent too
// much.
func (b *Broker) clientGone(s *Subscriber, raw *wsconn.Conn, err error) {
	if errors.Is(err, ssewire.ErrClientSends) {
		b.opts.Logger.Debug("fanout: SSE client keeps sending after its request", "subscriber", s.id, "remote", raw.RemoteAddr())
	}
	s.fail(endClient, err)
}
