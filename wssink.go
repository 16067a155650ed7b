package fanout

import (
	"bufio"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// StatusResync is the close status with which a plain WebSocket client
// (one without a resume or packed subprotocol: its frames carry the
// application's messages and nothing else) receives the resync signal. A
// resync written as a frame of its own would be taken for a message, so
// the client gets everything queued before the signal, then a close with
// this status and the reason "fanout.resync: " followed by the signal's
// data ("fanout.resync: lost"; see ResyncReason.String), and nothing
// after: it reconnects (a browser's WebSocket tells the status in
// CloseEvent.code) knowing that it lost messages, and reloads its state.
// OnResync is called as for any resync; OnDisconnect gets a nil error.
//
// A plain client cannot resume (the Hub ignores lastEventId without a
// resume subprotocol), so its only resync is the one a streaming
// subscriber gets when the engine lost messages (ResyncLost).
//
// It is 1012 (service restart): the stream restarts, and the client
// should come back. The JavaScript and Go clients of this module
// reconnect on it, as on any status outside 1008 and 4000 to 4999, the
// range that stays the application's own (Subscriber.CloseWith).
const StatusResync StatusCode = 1012

// closeWriteTimeout bounds the direct close frame Hub.Close writes.
const closeWriteTimeout = 250 * time.Millisecond

// wsSink writes to a connection the Hub accepted: prepared frames straight
// to the socket, one write per batch.
type wsSink struct {
	// Set before the writer starts (the subscriber is registered before
	// the handshake, so that a client whose handshake has completed
	// receives everything published after).
	conn     *websocket.Conn
	raw      *rawConn
	br       *bufio.Reader // what coder/websocket reads raw through
	framing  framing       // as the subprotocol says
	liveConn               // raw, for abort and kill from any goroutine
	// deflateMin is the smallest message sent compressed, where the
	// client negotiated permessage-deflate (see dataFrame); 0: none is.
	deflateMin int

	hdr [wsframe.MaxHeaderLen]byte // scratch: a packed frame's header

	// idleMu orders the idle reader's look at the connection (what is
	// buffered, pongs taken off the socket) before the close handshake,
	// which reads through coder/websocket; closing is set when it begins.
	idleMu  sync.Mutex
	closing bool

	pongWait     time.Duration // how long a ping may go unanswered
	pingSent     time.Time     // when the unanswered ping left (writer only)
	awaitingPong atomic.Bool
}

var pingFrame = [][]byte{wsframe.Control(wsframe.OpPing, nil)}

func (w *wsSink) write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error) {
	sc := getScratch()
	defer putScratch(sc)
	if w.framing&framePacked != 0 {
		// One frame: its header, then each message's record headers and
		// payloads (or its records compressed), all shared with the other
		// subscribers: nothing is copied.
		plain := packedLen(batch, w.framing)
		var deflated bool
		if sc.parts, deflated = w.appendDeflatedPacked(sc.parts, batch, plain); !deflated {
			hdr := wsframe.AppendHeader(w.hdr[:0], wsframe.OpBinary, plain)
			sc.parts = append(sc.parts, hdr)
			for _, m := range batch {
				sc.parts = appendRecordParts(sc.parts, m, w.framing)
			}
		}
		n, bytes, err := w.raw.writeFrames(sc.parts, true, timeout)
		if n == 1 {
			return len(batch), 1, bytes, err
		}
		return 0, 1, bytes, err
	}
	plain, resync := plainPrefix(batch)
	if len(plain) > 0 {
		for _, m := range plain {
			sc.parts = append(sc.parts, w.dataFrame(m))
		}
		sent, bytes, err = w.raw.writeFrames(sc.parts, false, timeout)
		writes = 1
	}
	if err == nil && resync {
		err = errPlainResync
	}
	return sent, writes, bytes, err
}

// errPlainResync is what a plain WebSocket sink's write returns when it
// has written the messages before a resync signal, which its framing
// cannot carry: the subscriber is closed with StatusResync instead (see
// Subscriber.flush).
var errPlainResync = errors.New("fanout: resync signal for a plain WebSocket client")

// plainPrefix returns the messages of batch before its first resync
// signal, and whether there is one: a plain WebSocket frame carries the
// application's bytes only, and a resync written as one would be taken
// for a message.
func plainPrefix(batch []*Message) ([]*Message, bool) {
	for i, m := range batch {
		if m.ctl == ctlResync {
			return batch[:i], true
		}
	}
	return batch, false
}

// maxRecordParts is the most parts appendRecordParts appends for one
// message: ID, event type and topic records, then the message's own, each
// a header and a payload.
const maxRecordParts = 8

// appendRecordParts appends the parts of m's records in the packed framing
// f (with its ID record when f has frameIDs, its event type and topic
// records when it has frameMeta), all shared with other subscribers. A
// resync or a position has none of those.
func appendRecordParts(parts [][]byte, m *Message, f framing) [][]byte {
	switch m.ctl {
	case ctlPosition: // one record: its payload is the ID
		return append(parts, m.packedHeader(), stringBytes(m.id))
	case ctlNone:
		if f&frameIDs != 0 && m.id != "" {
			parts = append(parts, m.idRecordHeader(), stringBytes(m.id))
		}
		if f&frameMeta != 0 && m.event != "" {
			parts = append(parts, m.eventRecordHeader(), stringBytes(m.event))
		}
		if f&frameMeta != 0 && m.topic != "" {
			parts = append(parts, m.topicRecordHeader(), stringBytes(m.topic))
		}
	}
	return append(parts, m.packedHeader(), m.data)
}

// packedLen returns the payload length of batch in the packed framing f.
func packedLen(batch []*Message, f framing) int {
	n := 0
	for _, m := range batch {
		var parts [maxRecordParts][]byte
		for _, p := range appendRecordParts(parts[:0], m, f) {
			n += len(p)
		}
	}
	return n
}

// appendRecords appends batch's records in the packed framing f.
func appendRecords(b []byte, batch []*Message, f framing) []byte {
	for _, m := range batch {
		var parts [maxRecordParts][]byte
		for _, p := range appendRecordParts(parts[:0], m, f) {
			b = append(b, p...)
		}
	}
	return b
}

// keepalive pings the peer, or declares it dead when the previous ping is
// still unanswered. keepalive runs once per interval (pongWait), so that
// is normally the tick after the ping: the peer had an interval to answer.
// The ping leaves when the writer wakes, a little after the tick that
// asked for it, so that tick is not a full interval later; a ping that
// left more than half an interval late (behind a long write: that must not
// count against the peer) gets until the tick after.
func (w *wsSink) keepalive(_ context.Context, timeout time.Duration) error {
	if w.awaitingPong.Load() {
		if time.Since(w.pingSent) < w.pongWait/2 {
			return nil
		}
		return errDeadPeer
	}
	w.awaitingPong.Store(true)
	w.pingSent = time.Now()
	_, _, err := w.raw.writeFrames(pingFrame, false, timeout)
	return err
}

func (w *wsSink) pong() { w.awaitingPong.Store(false) }

// liveConn is a sink's hijacked connection, once there is one, for abort
// and kill from any goroutine.
type liveConn struct{ live atomic.Pointer[rawConn] }

func (l *liveConn) abort() {
	if r := l.live.Load(); r != nil {
		r.abort()
	}
}

func (l *liveConn) kill() {
	if r := l.live.Load(); r != nil {
		_ = r.reset()
	}
}

// close ends the connection for why. It closes normally where the peer
// reads; where it has shown it does not (a write failed or was cut, it
// answered neither a ping nor, with data still unacknowledged, the close
// frame), rawConn.Close resets it instead, so that the kernel frees the
// connection and its unsent data at once.
func (w *wsSink) close(f farewell) {
	w.stopIdleReads() // coder/websocket reads from now on
	why, code, reason := f.why, f.code, f.reason
	switch {
	case why == endDead:
		w.raw.failed.Store(true) // it answered no ping: reset
	case why == endClient:
		// Nothing to say.
	case why == endShutdown && w.raw.aborted.Load():
		// Hub.Close interrupted the write: finish the frame it cut, if
		// any, and say going away, but do not wait for the reply.
		_ = w.raw.writeClose(uint16(code), reason, closeWriteTimeout)
	case !w.raw.clean():
		// The stream is mid-frame behind a peer too slow to take it: a
		// close frame now would corrupt it.
	case w.raw.aborted.Load():
		// The end's grace ran out on a write: say why, without waiting for
		// the reply. That the close frame fit in the socket's buffer does
		// not show that the peer reads: what it has not acknowledged, it
		// is not reading, and the connection is reset.
		_ = w.raw.writeClose(uint16(code), reason, closeWriteTimeout)
		w.raw.checkAcked.Store(true)
	default:
		// The handshake, bounded by coder/websocket (5s for each side): a
		// peer that reads answers it, acknowledging all we sent.
		w.raw.checkAcked.Store(true)
		_ = w.conn.Close(websocket.StatusCode(code), reason) // ours and coder's are RFC 6455's numbers
		return
	}
	_ = w.conn.CloseNow()
}

// farewell is how a subscription ends, as its transport says it.
type farewell struct {
	why    endReason
	code   StatusCode // the close status (a CloseEvent's, for SSE)
	reason string
	app    bool // chosen by the application (Subscriber.CloseWith)
}

// closeStatus maps why a subscription ended to a close status.
func closeStatus(why endReason) (StatusCode, string) {
	switch why {
	case endSlow:
		return StatusTryAgainLater, "slow consumer: reconnect"
	case endShutdown:
		return StatusGoingAway, "server shutting down"
	case endPanic:
		return StatusInternalError, "internal error"
	case endBadData:
		return StatusInvalidFramePayloadData, "text message is not valid UTF-8"
	case endRate:
		return StatusPolicyViolation, "message rate exceeded"
	case endResync:
		return StatusResync, ResyncEvent
	default:
		return StatusNormalClosure, ""
	}
}

// connSink writes to a connection the application accepted itself
// (Hub.Register). coder/websocket flushes every frame, so a batch costs one
// write per message unless the client negotiated packing, but it still
// leaves in one burst, without waking the writer per message.
type connSink struct {
	conn    *websocket.Conn
	framing framing
	ctx     context.Context // canceled by abort: coder/websocket then closes the connection
	cancel  context.CancelFunc
	pack    []byte
}

func newConnSink(conn *websocket.Conn, f framing) *connSink {
	ctx, cancel := context.WithCancel(context.Background())
	return &connSink{conn: conn, framing: f, ctx: ctx, cancel: cancel}
}

func (w *connSink) write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error) {
	ctx, cancel := w.ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	if w.framing&framePacked != 0 {
		w.pack = slices.Grow(w.pack[:0], packedLen(batch, w.framing))
		w.pack = appendRecords(w.pack, batch, w.framing)
		if cap(w.pack) > maxKeptScratch {
			defer func() { w.pack = nil }()
		}
		if err := w.conn.Write(ctx, websocket.MessageBinary, w.pack); err != nil {
			return 0, 1, 0, err
		}
		return len(batch), 1, len(w.pack), nil
	}
	plain, resync := plainPrefix(batch)
	for _, m := range plain {
		typ := websocket.MessageText
		if m.typ == Binary {
			typ = websocket.MessageBinary
		}
		if err := w.conn.Write(ctx, typ, m.data); err != nil {
			return sent, writes + 1, bytes, err
		}
		sent++
		writes++
		bytes += len(m.data)
	}
	if resync {
		return sent, writes, bytes, errPlainResync
	}
	return sent, writes, bytes, nil
}

func (w *connSink) keepalive(ctx context.Context, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return w.conn.Ping(ctx)
}

func (w *connSink) abort() { w.cancel() }

func (w *connSink) kill() { _ = w.conn.CloseNow() }

func (w *connSink) close(f farewell) {
	defer w.cancel()
	switch f.why {
	case endClient:
		// The application's context ended: the connection is its own.
	case endDead:
		_ = w.conn.CloseNow()
	default:
		_ = w.conn.Close(websocket.StatusCode(f.code), f.reason)
	}
}
