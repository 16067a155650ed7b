package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"
)

// Header sets the response headers of an event stream.
func Header(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
}

// ResponseHead returns the status line and headers of an event stream on
// a hijacked HTTP/1 connection, then prelude. The stream has no length and
// no chunking: it ends when the connection closes. The headers middleware
// set (CORS, say) are kept; middleware that rewrites the body (compression)
// is bypassed, so a Content-Encoding it set is dropped (a server that
// must keep such middleware in the stream's path writes through the
// ResponseWriter instead).
func ResponseHead(h http.Header, prelude []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("HTTP/1.1 200 OK\r\n")
	h = h.Clone()
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Connection", "close")
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Del("Content-Encoding") // the events go out as they are, whatever a middleware meant to do
	if err := h.Write(&buf); err != nil {
		return nil, err
	}
	buf.WriteString("\r\n")
	buf.Write(prelude)
	return buf.Bytes(), nil
}

// MaxClientBytes bounds what an SSE client may send once its request is
// read (a small body, a pipelined request: discarded) before its stream is
// closed.
const MaxClientBytes = 4 << 10

// ErrClientSends is WatchClient's error for a client that sent more
// than MaxClientBytes after its request.
var ErrClientSends = errors.New("fanout: SSE client sent more than 4 KiB after its request")

// WatchClient waits for an SSE client to go away (EOF, or any read error)
// and returns why. An EventSource sends nothing after its request: the
// first MaxClientBytes are discarded, and more ends the stream
// (ErrClientSends), so a client that streams a body cannot make the
// server read it for ever.
func WatchClient(raw io.Reader) error {
	var p [512]byte
	for total := 0; ; {
		n, err := raw.Read(p[:])
		if err != nil {
			return err
		}
		if total += n; total > MaxClientBytes {
			return ErrClientSends
		}
	}
}
