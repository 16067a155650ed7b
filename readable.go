package fanout

import (
	"errors"
	"github.com/fanout-go/fanout/internal/wsconn"
	"net"
	"syscall"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
)

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

// stopIdleReads tells the idle reader that the close handshake begins:
// from now on only coder/websocket reads the connection.
func (w *wsSink) stopIdleReads() {
	w.idleMu.Lock()
	w.closing = true
	w.idleMu.Unlock()
}
