package wsconn

import (
	"io"
	"syscall"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// IdleState is what the idle reader found at the head of a connection.
type IdleState uint8

const (
	IdleNone    IdleState = iota // nothing (the whole pongs that were there are taken)
	IdleMessage                  // coder/websocket must read: a message, a ping, a close, an error, the end
	IdlePong                     // a pong has arrived in part: ReadPong reads the rest, blocking
)

// TakePongs takes the whole pong frames at the head of the socket rc off
// it, passing each one's payload to pong, and reports what follows:
// IdleNone when nothing does, IdlePong when a pong has begun to arrive
// (even its first byte alone), IdleMessage when anything else does (a
// message, a ping, a close, the end of the connection) and coder/websocket
// must read it. It never blocks: it runs on the poller's goroutine.
func TakePongs(rc syscall.RawConn, pong func(payload []byte)) IdleState {
	var b [wsframe.MaxClientPong]byte
	for {
		n, err := sock.RecvNow(rc, b[:], true)
		if err != nil {
			return IdleMessage // the read reports it
		}
		if n == 0 {
			return IdleNone
		}
		size, ok := wsframe.ClientPong(b[:n])
		if !ok {
			return IdleMessage
		}
		if size == 0 || n < size {
			return IdlePong
		}
		if m, err := sock.RecvNow(rc, b[:size], false); err != nil || m != size {
			return IdleMessage
		}
		pong(wsframe.PongPayload(b[:size]))
	}
}

// TakePendingPongs is TakePongs for bytes that wait in raw before the
// socket's (a TLS connection's plaintext, which the socket cannot show:
// see Conn.Append): it takes the whole pong frames at their head, and
// reports what follows, IdleNone when nothing does. Only the reader calls
// it.
func TakePendingPongs(raw *Conn, pong func(payload []byte)) IdleState {
	for len(raw.pending) > 0 {
		size, ok := wsframe.ClientPong(raw.pending)
		if !ok {
			return IdleMessage
		}
		if size == 0 || len(raw.pending) < size {
			return IdlePong
		}
		pong(wsframe.PongPayload(raw.pending[:size]))
		raw.pending = raw.pending[size:]
	}
	raw.pending = nil // an idle connection keeps no buffer
	return IdleNone
}

// ReadPong reads the pong frame that has begun to arrive at the head of
// raw, and passes its payload to pong. It returns IdleMessage when the
// frame, once its second byte is there, is not one the idle reader takes
// (unmasked, or too long for a control frame): the bytes it read are then
// put back in front of raw's, for coder/websocket to read (and refuse).
func ReadPong(raw *Conn, pong func(payload []byte)) (IdleState, error) {
	var b [wsframe.MaxClientPong]byte
	if _, err := io.ReadFull(raw, b[:2]); err != nil {
		return IdleMessage, err
	}
	size, ok := wsframe.ClientPong(b[:2])
	if !ok {
		raw.Unread(b[:2])
		return IdleMessage, nil
	}
	if _, err := io.ReadFull(raw, b[2:size]); err != nil {
		return IdleMessage, err
	}
	pong(wsframe.PongPayload(b[:size]))
	return IdleNone, nil
}
