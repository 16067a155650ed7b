package fanout

import (
	"strconv"
	"time"

	ssewire "github.com/fanout-go/fanout/internal/sse"
	sse "github.com/tmaxmax/go-sse"
)

// encodeSSE encodes a go-sse message that is not a Message (see
// Message.sseEvent): a close event.
func encodeSSE(e *sse.Message) []byte { return ssewire.Encode(e, nil) }

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
var sseHeartbeat = ssewire.Comment("keepalive")

// sseRetry returns the event that sets a client's reconnection delay.
func sseRetry(d time.Duration) []byte {
	return ssewire.Retry(d)
}
