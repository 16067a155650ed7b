package fanout

import (
	"errors"
	"net"
	"syscall"
	"time"
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
	rc, ok := pollable(w.raw.Conn)
	if !ok {
		return nil
	}
	for {
		if res, _ := w.idleLook(rc, nil); res != readyRearm {
			return nil
		}
		err := rc.Read(peekReadable) // parks until the socket is readable
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		if err != nil {
			return nil // the read reports it
		}
		res, err := w.idleLook(rc, pong)
		if err != nil {
			return err
		}
		if res != readyRearm {
			return nil
		}
	}
}

// idleLook looks at the connection for the idle reader: readyHanded when
// coder/websocket must read (bytes wait in a buffer above the socket, or
// something other than a pong is there, or the close handshake has
// begun), readyRearm when there is nothing (after taking the pongs off the
// socket, when pong is set). A pong that has not fully arrived is read
// whole, within pongReadTimeout.
func (w *wsSink) idleLook(rc syscall.RawConn, pong func([]byte)) (readyResult, error) {
	w.idleMu.Lock()
	defer w.idleMu.Unlock()
	if w.closing || w.br.Buffered() > 0 || w.raw.hasPending() {
		return readyHanded, nil
	}
	if pong == nil {
		return readyRearm, nil
	}
	res, size := takePongs(rc, pong)
	if size > 0 {
		_ = w.raw.SetReadDeadline(time.Now().Add(pongReadTimeout))
		err := readPong(w.raw, size, pong)
		_ = w.raw.SetReadDeadline(time.Time{})
		if err != nil {
			return readyHanded, err
		}
		return readyRearm, nil
	}
	return res, nil
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

// hasPending reports whether bytes that net/http had buffered are still
// to be read; only the reader calls it.
func (c *rawConn) hasPending() bool { return len(c.pending) > 0 }
