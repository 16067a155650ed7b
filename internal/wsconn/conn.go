// Package wsconn is a hijacked connection that two writers share: the
// WebSocket library, which writes its control frames (pong, close) through
// Write, one whole frame per call, and fanout's writer, which writes whole
// prepared frames (WebSocket or SSE) of a batch in one socket write
// (WriteFrames). Its mutex is the single point where bytes enter the
// socket, so frames from both stay whole and in order; a close frame seen
// in Write lets no data frame follow. It also keeps bytes to be read before
// the socket's (what net/http had buffered, what the idle reader put back)
// and takes a client's pongs off an idle socket (TakePongs, ReadPong). It
// knows nothing of topics or subscribers; what the root package relies on
// in coder/websocket for this to hold is written in its coder.go.
package wsconn

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// CloseWriteTimeout bounds a close frame written after an abort (see
// Abort, WriteClose's callers).
const CloseWriteTimeout = 250 * time.Millisecond

// Hijack takes w's connection over from net/http (through
// http.ResponseController) and wraps it in a Conn. Bytes the client sent
// that net/http had already read are kept: the Conn's Read returns them
// first.
func Hijack(w http.ResponseWriter) (*Conn, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	raw := New(conn)
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		raw.pending = bytes.Clone(b)
	}
	return raw, nil
}

// Conn is a hijacked connection shared by the WebSocket library (for
// control frames) and a subscriber's writer (for data frames).
type Conn struct {
	net.Conn
	vectored bool       // the socket takes net.Buffers in one writev
	pending  []byte     // read before the socket: what net/http had buffered
	try      *tryWriter // writes without waiting (a socket's): see writeTimed

	mu        sync.Mutex
	closeSent bool   // a close frame went out: no data frame may follow
	carry     []byte // the unsent tail of a frame cut by a write timeout
	// noDeadline: the socket has no write deadline, since WriteFrames
	// cleared the one it set (not net/http's, which a connection it
	// hijacked may still carry, nor a close frame's or Abort's).
	noDeadline bool

	aborted atomic.Bool

	// dl orders Abort against a close frame's deadline: Abort moves the
	// write deadline into the past, except once a close frame is being
	// written (closing), which it bounds by CloseWriteTimeout instead;
	// and a close frame written after an Abort gets that deadline, which
	// an Abort still under way cannot move back into the past.
	dl      sync.Mutex
	closing bool // a close frame is being or was written (dl)

	// How Close ends the connection: with a reset (see sock.AbortOnClose) when
	// the peer has shown it does not read. failed: the last write failed
	// or was cut (a write timeout, an abort). writing: a write is blocked
	// in the socket (coder/websocket closes the connection under its own
	// write timeout). checkAcked: the close follows a close handshake, so
	// data the peer has still not acknowledged is data it will not read.
	failed     atomic.Bool
	writing    atomic.Int32
	checkAcked atomic.Bool
}

func New(c net.Conn) *Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return &Conn{Conn: c, vectored: true, try: newTryWriter(c)}
	}
	return &Conn{Conn: c}
}

// flatBelow is the size under which WriteFrames copies the frames into
// one buffer and writes it rather than handing the kernel a writev: for a
// message or a few of the usual size (tens to hundreds of bytes in two or
// three slices), a writev costs ~1 µs of CPU more than a write (3.1 µs vs
// 2.1-2.5 µs per call on loopback here), a quarter of what a node spends
// per delivery when every message is its own write; copying 4 KiB costs
// ~0.1 µs.
const flatBelow = 4 << 10

var ErrAborted = errors.New("fanout: write aborted")

// Read returns the bytes net/http had buffered, then reads the socket.
// Only coder/websocket's reader calls it, one call at a time.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// Write carries coder/websocket's frames (control frames only, for a
// connection the Hub accepted).
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wsframe.IsClose(p) {
		c.closeSent = true
		// Hub.Close interrupts data writes, not the goodbye: after an
		// Abort, the close frame has a short deadline of its own.
		c.beginClose(false, CloseWriteTimeout)
	}
	c.writing.Add(1)
	defer c.writing.Add(-1)
	err := c.flushCarry()
	var n int
	if err == nil {
		n, err = c.Conn.Write(p)
	}
	c.failed.Store(err != nil)
	return n, err
}

// flushCarry finishes a frame that a write timeout cut; c.mu must be held.
func (c *Conn) flushCarry() error {
	if len(c.carry) == 0 {
		return nil
	}
	n, err := c.Conn.Write(c.carry)
	c.carry = c.carry[n:]
	if len(c.carry) == 0 {
		c.carry = nil
	}
	return err
}

// WriteFrames writes bufs in one socket write (writev, or one Write of a
// flattened copy: always when the socket cannot writev, and below
// flatBelow bytes, where copying costs less than writev's per-segment
// work). Each buf is a whole frame, or, with oneFrame, all of bufs
// make one frame. It returns how many frames were sent, counting a frame
// that the timeout cut: its tail is kept and written before any later byte,
// so the stream stays well formed and the frames after it can be dropped
// cleanly. A write fails once it has waited timeout (0: no limit) for room
// in the socket's send buffer; one that finds room sets no deadline (see
// writeTimed).
func (c *Conn) WriteFrames(bufs [][]byte, oneFrame bool, timeout time.Duration) (sent, bytes int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return 0, 0, net.ErrClosed
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	// A write that fits in the socket's send buffer needs no deadline
	// (see writeTimed); others get theirs now, cleared once they end.
	timed := timeout > 0 && c.try != nil && c.noDeadline && len(c.carry) == 0 &&
		(len(bufs) == 1 || total < flatBelow)
	if timeout > 0 && !timed {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
		defer c.clearDeadline()
	}
	if c.aborted.Load() {
		c.failed.Store(true)
		return 0, 0, ErrAborted
	}
	c.writing.Add(1)
	defer c.writing.Add(-1)
	if err := c.flushCarry(); err != nil {
		c.failed.Store(true)
		return 0, 0, err
	}
	var n int64
	sc := GetScratch()
	switch {
	case len(bufs) == 1:
		var m int
		if timed {
			m, err = c.writeTimed(bufs[0], timeout)
		} else {
			m, err = c.Conn.Write(bufs[0])
		}
		n = int64(m)
	case c.vectored && total >= flatBelow:
		sc.vec = append(sc.vec[:0], bufs...)
		base := sc.vec
		n, err = sc.vec.WriteTo(c.Conn) // consumes sc.vec
		clear(base)
		sc.vec = base[:0]
	default:
		sc.flat = slices.Grow(sc.flat[:0], total)
		for _, b := range bufs {
			sc.flat = append(sc.flat, b...)
		}
		var m int
		if timed {
			m, err = c.writeTimed(sc.flat, timeout)
		} else {
			m, err = c.Conn.Write(sc.flat)
		}
		n = int64(m)
	}
	PutScratch(sc)
	frames := len(bufs)
	if oneFrame {
		frames = 1
	}
	c.failed.Store(err != nil)
	if err == nil {
		return frames, total, nil
	}
	if c.aborted.Load() && !errors.Is(err, ErrAborted) {
		err = fmt.Errorf("%w: %w", ErrAborted, err)
	}
	if oneFrame {
		if n > 0 {
			c.carry = appendTail(nil, bufs, int(n))
			sent = 1
		}
		return sent, int(n), err
	}
	rest := int(n)
	for i, b := range bufs {
		if rest >= len(b) {
			rest -= len(b)
			sent++
			continue
		}
		if rest > 0 {
			c.carry = appendTail(nil, bufs[i:i+1], rest)
			sent++
		}
		break
	}
	return sent, int(n), err
}

// clearDeadline clears the write deadline WriteFrames set; c.mu is held.
func (c *Conn) clearDeadline() {
	_ = c.Conn.SetWriteDeadline(time.Time{})
	c.noDeadline = true
}

// appendTail appends what follows the first skip bytes of bufs.
func appendTail(dst []byte, bufs [][]byte, skip int) []byte {
	for _, b := range bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		dst = append(dst, b[skip:]...)
		skip = 0
	}
	return dst
}

// Abort makes a write in progress, and every later data write, fail now.
// A close frame being written is not cut: it gets CloseWriteTimeout.
func (c *Conn) Abort() {
	c.dl.Lock()
	defer c.dl.Unlock()
	c.aborted.Store(true)
	if c.closing {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(CloseWriteTimeout))
		return
	}
	_ = c.Conn.SetWriteDeadline(time.Unix(1, 0))
}

// beginClose marks that a close frame is about to be written, and gives
// it timeout as its deadline when always is set or an Abort came first
// (an Abort from now on gives it CloseWriteTimeout, see Abort). c.mu must
// be held.
func (c *Conn) beginClose(always bool, timeout time.Duration) {
	c.dl.Lock()
	defer c.dl.Unlock()
	c.closing = true
	if always || c.aborted.Load() {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	}
}

// Clean reports whether a close frame may still be written: no frame is
// half-written and none was aborted.
func (c *Conn) Clean() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.carry) == 0 && !c.closeSent
}

// WriteClose writes a close frame directly, within timeout, without the
// closing handshake; Hub.Close uses it to say "going away" at once.
func (c *Conn) WriteClose(code uint16, reason string, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return net.ErrClosed
	}
	c.closeSent = true
	c.beginClose(true, timeout)
	c.writing.Add(1)
	defer c.writing.Add(-1)
	// A frame the abort cut is finished first, within the same timeout: a
	// peer that reads gets the rest of it and the close frame; one that
	// does not is reset.
	err := c.flushCarry()
	if err == nil {
		_, err = c.Conn.Write(wsframe.Close(code, reason))
	}
	c.failed.Store(err != nil)
	return err
}

// Close closes the connection: normally while the peer reads, with a
// reset (sock.AbortOnClose) once it has shown it does not, so that the kernel
// does not keep the connection and its unsent data. coder/websocket calls
// it too, at the end of its close handshake or under its write timeout.
func (c *Conn) Close() error {
	if c.failed.Load() || c.writing.Load() > 0 || c.checkAcked.Load() && sock.Unacked(c.Conn) > 0 {
		sock.AbortOnClose(c.Conn)
	}
	return c.Conn.Close()
}

// Reset closes the connection with a reset, whatever its state: its peer
// is gone or cut off.
func (c *Conn) Reset() error {
	c.failed.Store(true)
	return c.Close()
}

// MarkFailed makes Close reset the connection: its peer has shown it does
// not read (it answered no ping).
func (c *Conn) MarkFailed() { c.failed.Store(true) }

// Aborted reports whether Abort was called.
func (c *Conn) Aborted() bool { return c.aborted.Load() }

// CheckAcked makes Close reset the connection if the peer has not
// acknowledged all that was sent: the close follows a close handshake (or
// a close frame), so data still unacknowledged is data it will not read.
func (c *Conn) CheckAcked() { c.checkAcked.Store(true) }

// Unread puts p back in front of what the next Read returns; only the
// reader calls it.
func (c *Conn) Unread(p []byte) {
	c.pending = append(append([]byte(nil), p...), c.pending...)
}

// Append adds p after the bytes still to be read before the socket's:
// plaintext the idle reader took out of a TLS connection (see
// TakePendingPongs); only the reader calls it.
func (c *Conn) Append(p []byte) {
	if len(p) > 0 {
		c.pending = append(c.pending, p...)
	}
}

// HasPending reports whether bytes that net/http had buffered, or that
// were put back (Unread), are still to be read; only the reader calls it.
func (c *Conn) HasPending() bool { return len(c.pending) > 0 }

// DropPending drops the bytes still to be read before the socket's and
// returns how many there were; only the reader calls it.
func (c *Conn) DropPending() int {
	n := len(c.pending)
	c.pending = nil
	return n
}
