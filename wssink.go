package fanout

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout/internal/wsconn"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// closeWriteTimeout bounds the direct close frame Hub.Close writes.
const closeWriteTimeout = wsconn.CloseWriteTimeout

// errAborted is why a write failed that abort cut.
var errAborted = wsconn.ErrAborted

// wsSink writes to a connection the Hub accepted: prepared frames straight
// to the socket, one write per batch.
type wsSink struct {
	// Set before the writer starts (the subscriber is registered before
	// the handshake, so that a client whose handshake has completed
	// receives everything published after).
	conn     *websocket.Conn
	raw      *wsconn.Conn
	br       *bufio.Reader // what coder/websocket reads raw through
	framing  framing       // as the subprotocol says
	liveConn               // raw, for abort and kill from any goroutine
	// deflateMin is the smallest message sent compressed, where the
	// client negotiated permessage-deflate (see Message.wsDataFrame); 0: none is.
	deflateMin int

	hdr [wsframe.MaxHeaderLen]byte // scratch: a packed frame's header

	// idleMu orders the idle reader's look at the connection (what is
	// buffered, pongs taken off the socket) before the close handshake,
	// which reads through coder/websocket; closing is set when it begins.
	idleMu  sync.Mutex
	closing bool
	// tls is the connection's TLS layer, set before its reader starts
	// where the poller watches the socket under it (see tlsLook); nil
	// otherwise.
	tls *tls.Conn

	pongWait     time.Duration // how long a ping may go unanswered
	pingSent     time.Time     // when the unanswered ping left (writer only)
	awaitingPong atomic.Bool
}

var pingFrame = [][]byte{wsframe.Control(wsframe.OpPing, nil)}

func (w *wsSink) write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error) {
	sc := wsconn.GetScratch()
	defer wsconn.PutScratch(sc)
	if w.framing&framePacked != 0 {
		// One frame: its header, then each message's record headers and
		// payloads (or its records compressed), all shared with the other
		// subscribers: nothing is copied.
		plain := packedLen(batch, w.framing)
		var deflated bool
		if sc.Parts, deflated = appendDeflatedPacked(sc.Parts, w.hdr[:0], batch, w.framing, w.deflateMin, plain); !deflated {
			hdr := wsframe.AppendHeader(w.hdr[:0], wsframe.OpBinary, plain)
			sc.Parts = append(sc.Parts, hdr)
			for _, m := range batch {
				sc.Parts = appendRecordParts(sc.Parts, m, w.framing)
			}
		}
		n, bytes, err := w.raw.WriteFrames(sc.Parts, true, timeout)
		if n == 1 {
			return len(batch), 1, bytes, err
		}
		return 0, 1, bytes, err
	}
	plain, resync := plainPrefix(batch)
	if len(plain) > 0 {
		for _, m := range plain {
			sc.Parts = append(sc.Parts, m.wsDataFrame(w.deflateMin))
		}
		sent, bytes, err = w.raw.WriteFrames(sc.Parts, false, timeout)
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
	_, _, err := w.raw.WriteFrames(pingFrame, false, timeout)
	return err
}

func (w *wsSink) pong() { w.awaitingPong.Store(false) }

// liveConn is a sink's hijacked connection, once there is one, for abort
// and kill from any goroutine.
type liveConn struct{ live atomic.Pointer[wsconn.Conn] }

func (l *liveConn) abort() {
	if r := l.live.Load(); r != nil {
		r.Abort()
	}
}

func (l *liveConn) kill() {
	if r := l.live.Load(); r != nil {
		_ = r.Reset()
	}
}

// stopIdleReads tells the idle reader that the close handshake begins:
// from now on only coder/websocket reads the connection.
func (w *wsSink) stopIdleReads() {
	w.idleMu.Lock()
	w.closing = true
	w.idleMu.Unlock()
}

// close ends the connection for why. It closes normally where the peer
// reads; where it has shown it does not (a write failed or was cut, it
// answered neither a ping nor, with data still unacknowledged, the close
// frame), wsconn.Conn.Close resets it instead, so that the kernel frees the
// connection and its unsent data at once.
func (w *wsSink) close(f farewell) {
	w.stopIdleReads() // coder/websocket reads from now on
	why, code, reason := f.why, f.code, f.reason
	switch {
	case why == endDead:
		w.raw.MarkFailed() // it answered no ping: reset
	case why == endClient:
		// Nothing to say.
	case why == endShutdown && w.raw.Aborted():
		// Hub.Close interrupted the write: finish the frame it cut, if
		// any, and say going away, but do not wait for the reply.
		_ = w.raw.WriteClose(uint16(code), reason, closeWriteTimeout)
	case !w.raw.Clean():
		// The stream is mid-frame behind a peer too slow to take it: a
		// close frame now would corrupt it.
	case w.raw.Aborted():
		// The end's grace ran out on a write: say why, without waiting for
		// the reply. That the close frame fit in the socket's buffer does
		// not show that the peer reads: what it has not acknowledged, it
		// is not reading, and the connection is reset.
		_ = w.raw.WriteClose(uint16(code), reason, closeWriteTimeout)
		w.raw.CheckAcked()
	default:
		// The handshake, bounded by coder/websocket (5s for each side): a
		// peer that reads answers it, acknowledging all we sent.
		w.raw.CheckAcked()
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
		if cap(w.pack) > wsconn.MaxKeptScratch {
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
