// Package sse is the Server-Sent Events encoding as fanout writes it
// (events, comments, retry hints), on go-sse's encoder. It knows nothing
// of messages, topics or subscribers.
package sse

import (
	"strings"
	"time"

	gosse "github.com/tmaxmax/go-sse"
)

// Event returns the complete event with id (none if ""), type typ (none,
// "message" to clients, if "") and data, which is sent as lines of text:
// CR and CRLF line breaks arrive as LF, as every SSE client parses them.
// An empty data, and one that ends with a line break, arrive whole. It
// fails when id or typ cannot be sent intact (go-sse's errors). Clients
// ignore an id that holds NUL, and decode the stream as UTF-8: the caller
// sends neither.
func Event(id, typ, data string) ([]byte, error) {
	var e gosse.Message
	if id != "" {
		v, err := gosse.NewID(id)
		if err != nil {
			return nil, err
		}
		e.ID = v
	}
	if typ != "" {
		v, err := gosse.NewType(typ)
		if err != nil {
			return nil, err
		}
		e.Type = v
	}
	e.AppendData(data)
	if data == "" || strings.HasSuffix(data, "\n") || strings.HasSuffix(data, "\r") {
		// AppendData drops a final empty line (and so an empty payload,
		// which clients would then not dispatch at all): "\n" is one.
		e.AppendData("\n")
	}
	lines := 1 + strings.Count(data, "\n") + strings.Count(data, "\r")
	b := make([]byte, 0, len(data)+len("data: \n")*(lines+1)+len(id)+len(typ)+len("id: \nevent: \n\n"))
	return Encode(&e, b), nil
}

// Encode appends the encoding of the go-sse message e to b.
func Encode(e *gosse.Message, b []byte) []byte {
	w := appendWriter(b)
	_, _ = e.WriteTo(&w) // to memory: it cannot fail
	return w
}

// Comment returns a comment line, which clients ignore (a heartbeat).
func Comment(text string) []byte {
	var e gosse.Message
	e.AppendComment(text)
	return Encode(&e, nil)
}

// Retry returns the field that sets a client's reconnection delay.
func Retry(d time.Duration) []byte {
	return Encode(&gosse.Message{Retry: d}, nil)
}

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter []byte

func (w *appendWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}
