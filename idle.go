package fanout

import (
	"io"
	"syscall"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/wsframe"
)

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

// idleState is what the idle reader found at the head of a connection.
type idleState uint8

const (
	idleNone    idleState = iota // nothing (the whole pongs that were there are taken)
	idleMessage                  // coder/websocket must read: a message, a ping, a close, an error, the end
	idlePong                     // a pong has arrived in part: finishPong reads the rest, blocking
)

// takePongs takes the whole pong frames at the head of the socket rc off
// it, passing each one's payload to pong, and reports what follows:
// idleNone when nothing does, idlePong when a pong has begun to arrive
// (even its first byte alone), idleMessage when anything else does (a
// message, a ping, a close, the end of the connection) and coder/websocket
// must read it. It never blocks: it runs on the poller's goroutine.
func takePongs(rc syscall.RawConn, pong func(payload []byte)) idleState {
	var b [wsframe.MaxClientPong]byte
	for {
		n, err := sock.RecvNow(rc, b[:], true)
		if err != nil {
			return idleMessage // the read reports it
		}
		if n == 0 {
			return idleNone
		}
		size, ok := wsframe.ClientPong(b[:n])
		if !ok {
			return idleMessage
		}
		if size == 0 || n < size {
			return idlePong
		}
		if m, err := sock.RecvNow(rc, b[:size], false); err != nil || m != size {
			return idleMessage
		}
		pong(wsframe.PongPayload(b[:size]))
	}
}

// readPong reads the pong frame that has begun to arrive at the head of
// raw, and passes its payload to pong. It returns idleMessage when the
// frame, once its second byte is there, is not one the idle reader takes
// (unmasked, or too long for a control frame): the bytes it read are then
// put back in front of raw's, for coder/websocket to read (and refuse).
func readPong(raw *rawConn, pong func(payload []byte)) (idleState, error) {
	var b [wsframe.MaxClientPong]byte
	if _, err := io.ReadFull(raw, b[:2]); err != nil {
		return idleMessage, err
	}
	size, ok := wsframe.ClientPong(b[:2])
	if !ok {
		raw.unread(b[:2])
		return idleMessage, nil
	}
	if _, err := io.ReadFull(raw, b[2:size]); err != nil {
		return idleMessage, err
	}
	pong(wsframe.PongPayload(b[:size]))
	return idleNone, nil
}
