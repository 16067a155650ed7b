package fanout

import (
	"bufio"
	"context"
	"net"
	"net/http"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/wsconn"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// What the Hub relies on in coder/websocket, all of it, in this one file.
// The Hub lets coder/websocket do the handshake, the reading and the
// control frames it writes itself (pong, close), and writes its prepared
// data frames to the socket on its own. That works because of what
// coder/websocket does, not because of anything its API promises; each
// point below is exercised, against coder/websocket alone, by
// coder_test.go, which fails if a new version stops doing it:
//
//  1. Accept hijacks the connection through the ResponseWriter it is
//     given (found by asserting http.Hijacker on it), and then writes
//     every frame through the returned bufio.Writer only, flushing it
//     after each frame: with a buffer of wsframe.MaxControlFrame bytes or
//     more, each control frame reaches the hijacked net.Conn's Write
//     whole, in one call (hijackWriter, wsconn.Conn.Write).
//  2. A close frame it writes begins with the byte Fin|OpClose (it never
//     compresses or fragments one), so wsconn.Conn.Write tells it from its
//     first byte (wsframe.IsClose) and lets no data frame follow it.
//  3. It reads only through the hijacked net.Conn (after what the
//     bufio.Reader held), so bytes the idle reader took off the socket
//     and put back in front of it (wsconn.Conn.Unread) are read as if they
//     had never been taken, and bytes waiting in the bufio.Reader or in
//     wsconn.Conn's pending are ones it has still to read (HasPending).
//  4. OnPongReceived is called with the context given to the Conn.Read
//     that read the pong: that is how a pong finds its subscriber
//     (routePongs, withSink).
//  5. With CompressionNoContextTakeover, Accept writes its acceptance of
//     permessage-deflate in the response's Sec-WebSocket-Extensions
//     header, the one of the ResponseWriter it was given, before it
//     hijacks (deflateMin); it says it nowhere else. It inflates what
//     clients send.
//  6. It closes the hijacked net.Conn at the end of its close handshake
//     (wsconn.Conn.Close decides there whether to reset).
//  7. Accept selects, of AcceptOptions.Subprotocols in their order, the
//     first that the client offers, comparing them ignoring case, and
//     echoes the client's spelling (hubSubprotocols orders the Hub's;
//     wsFraming and offers compare ignoring case).

// hijackWriter is the ResponseWriter the Hub passes to websocket.Accept.
type hijackWriter struct {
	http.ResponseWriter
	sendBuffer int
	sk         *wsSink // receives the wsconn.Conn
}

// Unwrap lets http.ResponseController reach the original writer.
func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the underlying connection (found through Unwrap chains, so
// any middleware works) and wraps it in a wsconn.Conn.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	raw, err := wsconn.Hijack(w.ResponseWriter)
	if err != nil {
		return nil, nil, err
	}
	sock.SetSendBuffer(raw.Conn, w.sendBuffer)
	w.sk.raw = raw
	w.sk.live.Store(raw)
	// net/http's 4 KiB buffers would live as long as the connection; small
	// ones serve: client messages are usually small (and a fan-out's
	// clients send few), larger reads bypass the buffer, and server control
	// frames still reach wsconn.Conn.Write whole, one per call (point 1).
	w.sk.br = bufio.NewReaderSize(raw, 128)
	return raw, bufio.NewReadWriter(w.sk.br, bufio.NewWriterSize(raw, maxControlFrame)), nil
}

// maxControlFrame is the size of the largest control frame a server
// writes, rounded up: coder/websocket's control frames then reach
// wsconn.Conn.Write whole (point 1).
const maxControlFrame = 128

var _ [maxControlFrame - wsframe.MaxControlFrame]struct{} // it holds the largest

// sinkKey carries a subscriber's wsSink in the context of its reads, for
// routePongs (point 4).
type sinkKey struct{}

// withSink returns ctx carrying sk, for the reads of sk's connection.
func withSink(ctx context.Context, sk *wsSink) context.Context {
	return context.WithValue(ctx, sinkKey{}, sk)
}

// routePongs returns an OnPongReceived that tells the pong's subscriber
// (found in the read's context: see withSink) that its peer answered,
// then calls user's, if any.
func routePongs(user func(context.Context, []byte)) func(context.Context, []byte) {
	return func(ctx context.Context, payload []byte) {
		if w, ok := ctx.Value(sinkKey{}).(*wsSink); ok {
			w.pong()
		}
		if user != nil {
			user(ctx, payload)
		}
	}
}

// deflateMin returns the wsSink.deflateMin of a connection whose handshake
// response carried h (as websocket.Accept wrote it: point 5), for a Hub
// whose smallest compressed message (or packed payload) is min bytes: min
// where the response accepted permessage-deflate, 0 (none compressed)
// otherwise.
func deflateMin(h http.Header, min int) int {
	if !wsframe.AcceptsDeflate(h) {
		return 0
	}
	return min
}

// acceptMode is the compression mode the Hub lets coder/websocket
// negotiate (point 5): without context takeover only, so that each
// message is compressed once for every subscriber (see permessage-deflate
// in prepared.go); none without compression.
func acceptMode(compression bool) websocket.CompressionMode {
	if compression {
		return websocket.CompressionNoContextTakeover
	}
	return websocket.CompressionDisabled
}
