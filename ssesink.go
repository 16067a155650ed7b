package fanout

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
	ssewire "github.com/fanout-go/fanout/internal/sse"
	"github.com/fanout-go/fanout/internal/wsconn"
	sse "github.com/tmaxmax/go-sse"
)

// sseSink writes a subscriber's events to its SSE response: each batch's
// events, then ONE flush. The response stays open while the Broker's
// ServeHTTP runs the writer, so ending the subscription ends the response.
type sseSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	heartbeat time.Duration
	lastWrite time.Time // writer only
	sseCursor           // the ids of a subscriber of several partitions (writer only)

	mu      sync.Mutex // orders abort against the writer's deadline changes
	aborted bool
	writing bool // a write or heartbeat is in progress
}

func newSSESink(w http.ResponseWriter, heartbeat time.Duration) *sseSink {
	return &sseSink{w: w, rc: http.NewResponseController(w), heartbeat: heartbeat}
}

// clearDeadline clears the stream's write deadline (that of
// http.Server.WriteTimeout, which a stream outlives), unless it was killed.
func (k *sseSink) clearDeadline() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.aborted {
		_ = k.rc.SetWriteDeadline(time.Time{})
	}
}

// begin marks a write in progress and sets its deadline (timeout 0:
// none), unless the sink was aborted. Writers that cannot set a deadline
// simply have none.
func (k *sseSink) begin(timeout time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.aborted {
		return errAborted
	}
	k.writing = true
	if timeout > 0 {
		_ = k.rc.SetWriteDeadline(time.Now().Add(timeout))
	}
	return nil
}

// end marks the write done and clears its deadline, unless abort moved it.
func (k *sseSink) end(timeout time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.writing = false
	if timeout > 0 && !k.aborted {
		_ = k.rc.SetWriteDeadline(time.Time{})
	}
}

func (k *sseSink) write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error) {
	if err := k.begin(timeout); err != nil {
		return 0, 0, 0, err
	}
	defer k.end(timeout)
	var sc *cursorScratch
	defer func() {
		if sc != nil {
			putCursorScratch(sc)
		}
	}()
	for _, m := range batch {
		ev, err := m.sseEvent()
		if err != nil { // validated at publish: unreachable
			continue
		}
		if k.see(m) {
			if sc == nil {
				sc = getCursorScratch()
			}
			if b, ok := k.appendEvent(sc.buf[:0], m, ev); ok {
				sc.buf, ev = b, b
			}
		}
		n, err := k.w.Write(ev)
		bytes += n
		if err != nil {
			return 0, 1, bytes, err
		}
	}
	if err := k.rc.Flush(); err != nil {
		return 0, 1, bytes, err
	}
	k.lastWrite = time.Now()
	return len(batch), 1, bytes, nil
}

// keepalive writes a heartbeat comment, unless the stream carried data
// within the last heartbeat interval. An SSE peer does not answer, so a
// dead one is found by a write failing (or timing out).
func (k *sseSink) keepalive(_ context.Context, timeout time.Duration) error {
	if time.Since(k.lastWrite) < k.heartbeat {
		return nil
	}
	if err := k.begin(timeout); err != nil {
		return err
	}
	defer k.end(timeout)
	if _, err := k.w.Write(sseHeartbeat); err != nil {
		return err
	}
	k.lastWrite = time.Now()
	return k.rc.Flush()
}

// abort makes a write in progress fail, by moving its deadline into the
// past, and any later one. An idle stream is left alone, so that it ends
// cleanly (an expired deadline would reset an HTTP/2 stream at once).
func (k *sseSink) abort() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.aborted = true
	if k.writing {
		_ = k.rc.SetWriteDeadline(time.Unix(1, 0))
	}
}

// kill cuts the stream: a handler cannot close its connection, but an
// expired deadline fails the stream's writes, and net/http closes the
// connection once ServeHTTP returns.
func (k *sseSink) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.aborted = true
	_ = k.rc.SetWriteDeadline(time.Unix(1, 0))
}

// close ends the subscription; the Broker's ServeHTTP then returns, which
// ends the response. EventSource reconnects by itself (with Last-Event-ID),
// unless the Broker is shutting down, which answers 503.
func (k *sseSink) close(f farewell) {
	if !f.app || k.begin(closeWriteTimeout) != nil {
		return
	}
	defer k.end(closeWriteTimeout)
	if _, err := k.w.Write(sseClose(f.code, f.reason)); err == nil {
		_ = k.rc.Flush()
	}
}

// sseConnSink writes a subscriber's events to its hijacked HTTP/1
// connection (see Broker.serveConn): each batch in one writev, straight
// from the events every subscriber shares.
type sseConnSink struct {
	raw *wsconn.Conn // set before the writer starts
	liveConn

	heartbeat  time.Duration
	sendBuffer int       // SO_SNDBUF, when positive
	lastWrite  time.Time // writer only
	sseCursor            // the ids of a subscriber of several partitions (writer only)
}

// hijack takes the connection over from net/http and writes head to it.
func (k *sseConnSink) hijack(w http.ResponseWriter, head []byte, timeout time.Duration) (*wsconn.Conn, error) {
	raw, err := wsconn.Hijack(w)
	if err != nil {
		return nil, err
	}
	sock.SetSendBuffer(raw.Conn, k.sendBuffer)
	k.raw = raw
	k.live.Store(raw)
	if _, _, err := raw.WriteFrames([][]byte{head}, false, timeout); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return raw, nil
}

func (k *sseConnSink) write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error) {
	sc := wsconn.GetScratch()
	defer wsconn.PutScratch(sc)
	var cs *cursorScratch
	for _, m := range batch {
		ev, _ := m.sseEvent() // validated at publish
		if k.see(m) {
			// Rewritten whole into cs.buf, so that a write cut short
			// completes the event (see wsconn.Conn.WriteFrames); its
			// part is set once cs.buf is done growing.
			if cs == nil {
				cs = getCursorScratch()
			}
			if b, ok := k.appendEvent(cs.buf, m, ev); ok {
				cs.buf, ev = b, nil
				cs.ends = append(cs.ends, len(b))
			}
		}
		sc.Parts = append(sc.Parts, ev)
	}
	if cs != nil {
		start, j := 0, 0
		for i, p := range sc.Parts {
			if p == nil {
				sc.Parts[i] = cs.buf[start:cs.ends[j]]
				start = cs.ends[j]
				j++
			}
		}
	}
	sent, bytes, err = k.raw.WriteFrames(sc.Parts, false, timeout)
	if cs != nil {
		putCursorScratch(cs)
	}
	k.lastWrite = time.Now()
	return sent, 1, bytes, err
}

var sseHeartbeats = [][]byte{sseHeartbeat}

// keepalive writes a heartbeat comment, unless the stream carried data
// within the last heartbeat interval.
func (k *sseConnSink) keepalive(_ context.Context, timeout time.Duration) error {
	if time.Since(k.lastWrite) < k.heartbeat {
		return nil
	}
	k.lastWrite = time.Now()
	_, _, err := k.raw.WriteFrames(sseHeartbeats, false, timeout)
	return err
}

// close ends the stream by closing the connection, after what was written:
// normally, unless the client was found slow and has not acknowledged
// all of it. A client that does not read would otherwise never see the
// end, which waits behind the data, and the kernel would keep the socket
// and its unsent data; it is reset instead (see sock.AbortOnClose), as a
// WebSocket peer that leaves the close handshake unanswered is.
func (k *sseConnSink) close(f farewell) {
	if f.app {
		_, _, _ = k.raw.WriteFrames([][]byte{sseClose(f.code, f.reason)}, false, closeWriteTimeout)
	}
	if f.why == endSlow && sock.Unacked(k.raw.Conn) > 0 {
		_ = k.raw.Reset()
		return
	}
	_ = k.raw.Close()
}

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
