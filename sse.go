package fanout

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	sse "github.com/tmaxmax/go-sse"
)

// sseEvent returns m's complete Server-Sent Event, encoding it on first use
// (once per publish, shared by every SSE subscriber).
//
// The data field carries the payload as text; SSE has no other kind. CR
// and CRLF line breaks arrive as LF, as every SSE client parses them. A
// Binary message is sent base64-encoded (standard encoding, padded), so its
// bytes arrive intact.
func (m *Message) sseEvent() ([]byte, error) {
	m.sseOnce.Do(func() { m.sse, m.sseErr = m.encodeSSE() })
	return m.sse, m.sseErr
}

func (m *Message) encodeSSE() ([]byte, error) {
	var e sse.Message
	if m.id != "" {
		id, err := sse.NewID(m.id)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		e.ID = id
	}
	if m.event != "" {
		t, err := sse.NewType(m.event)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		e.Type = t
	}
	if m.ctl == ctlPosition {
		// The ID (which EventSource records for its reconnection) in an
		// event of its own type: browsers dispatch it to no onmessage
		// handler, and a client that must know its position (to reopen
		// with ?lastEventId= once EventSource gave up, or a library that
		// ignores an id alone) can listen for it.
		e.Type = sse.Type(PositionEvent)
		e.AppendData(m.id)
		return encodeSSE(&e), nil
	}
	data := unsafe.String(unsafe.SliceData(m.data), len(m.data)) // read-only, like m.data
	if m.typ == Binary {
		data = base64.StdEncoding.EncodeToString(m.data)
	}
	e.AppendData(data)
	if data == "" || strings.HasSuffix(data, "\n") || strings.HasSuffix(data, "\r") {
		// AppendData drops a final empty line (and so an empty payload,
		// which clients would then not dispatch at all): "\n" is one.
		e.AppendData("\n")
	}
	lines := 1 + strings.Count(data, "\n") + strings.Count(data, "\r")
	m.sse = make([]byte, 0, len(data)+len("data: \n")*(lines+1)+len(m.id)+len(m.event)+len("id: \nevent: \n\n"))
	if _, err := e.WriteTo((*appendWriter)(&m.sse)); err != nil {
		return nil, err
	}
	return m.sse, nil
}

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter []byte

func (w *appendWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}

// encodeSSE encodes a go-sse message that is not a Message (a comment, a
// retry hint).
func encodeSSE(e *sse.Message) []byte {
	var w appendWriter
	_, _ = e.WriteTo(&w)
	return w
}

// PositionEvent is the SSE event type of a new stream's position (see
// ResumeSubprotocol's position record): its id field and its data are the
// ID of the last message published before the stream, which EventSource
// records as its last event ID. Browsers dispatch it to no onmessage
// handler; a client that reopens streams itself listens for it:
//
//	es.addEventListener("fanout.position", (e) => (lastId = e.data));
const PositionEvent = "fanout.position"

// CloseEvent is the SSE event type with which Subscriber.CloseWith ends a
// stream: its data is the close code, a space, and the reason (as in
// "4001 signed out"). Clients treat the code as a WebSocket close status
// (docs/protocol.md, section 8): 1008 and 4000 to 4999 say stop. An
// EventSource reconnects after any end of stream, so a page that should
// stop listens for it:
//
//	es.addEventListener("fanout.close", (e) => es.close());
const CloseEvent = "fanout.close"

// sseClose returns the CloseEvent for code and reason.
func sseClose(code StatusCode, reason string) []byte {
	var e sse.Message
	e.Type = sse.Type(CloseEvent)
	e.AppendData(strconv.Itoa(int(code)) + " " + reason)
	return encodeSSE(&e)
}

// sseHeartbeat is the comment written to an idle SSE stream so that proxies
// and load balancers keep it open. Clients ignore it.
var sseHeartbeat = func() []byte {
	var e sse.Message
	e.AppendComment("keepalive")
	return encodeSSE(&e)
}()

// sseRetry returns the event that sets a client's reconnection delay.
func sseRetry(d time.Duration) []byte {
	return encodeSSE(&sse.Message{Retry: d})
}
