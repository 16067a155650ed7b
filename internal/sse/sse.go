// Package sse is the Server-Sent Events encoding as fanout writes it
// (events, comments, retry hints), on go-sse's encoder, and the plumbing
// of an event stream on a hijacked HTTP/1 connection (its response head,
// watching a client that should send nothing). It knows nothing of
// messages, topics or subscribers.
package sse

import (
	"slices"
	"strings"
	"time"

	gosse "github.com/tmaxmax/go-sse"
)

// AppendEvent appends the complete event with id (none if ""), type typ
// (none, "message" to clients, if "") and data to *dst, growing it once,
// to the event's size. data is sent as lines of text: CR and CRLF line
// breaks arrive as LF, as every SSE client parses them. An empty data,
// and one that ends with a line break, arrive whole. It fails, leaving
// *dst as it was, when id or typ cannot be sent intact (go-sse's
// errors). Clients ignore an id that holds NUL, and decode the stream as
// UTF-8: the caller sends neither.
//
// The encoder writes through dst: where dst points into memory the
// caller keeps (a field of an object on the heap), the event costs one
// allocation, its bytes.
func AppendEvent(dst *[]byte, id, typ, data string) error {
	var e gosse.Message
	if id != "" {
		v, err := gosse.NewID(id)
		if err != nil {
			return err
		}
		e.ID = v
	}
	if typ != "" {
		v, err := gosse.NewType(typ)
		if err != nil {
			return err
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
	*dst = slices.Grow(*dst, len(data)+len("data: \n")*(lines+1)+len(id)+len(typ)+len("id: \nevent: \n\n"))
	_, _ = e.WriteTo((*appendWriter)(dst)) // to memory: it cannot fail
	return nil
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
