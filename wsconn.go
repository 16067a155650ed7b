package fanout

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

// The Hub hands websocket.Accept a ResponseWriter whose Hijack returns a
// rawConn instead of the bare socket (see coder.go for what that relies on):
// coder/websocket keeps doing the handshake, the reading, and its control
// frames (pong, close) through it, while the subscriber's writer writes the
// prepared data frames of a whole batch to the same socket in ONE write.
// rawConn's mutex is the single point where bytes enter the socket, so
// frames from both sides stay whole and in order.

// hijackRaw takes w's connection over from net/http (through
// http.ResponseController) and wraps it in a rawConn. Bytes the client sent
// that net/http had already read are kept: the rawConn's Read returns them
// first.
func hijackRaw(w http.ResponseWriter) (*rawConn, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	raw := newRawConn(conn)
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		raw.pending = bytes.Clone(b)
	}
	return raw, nil
}

// rawConn is a hijacked WebSocket connection shared by coder/websocket (for
// control frames) and the subscriber's writer (for data frames).
type rawConn struct {
	net.Conn
	vectored bool   // the socket takes net.Buffers in one writev
	pending  []byte // read before the socket: what net/http had buffered

	mu        sync.Mutex
	closeSent bool   // a close frame went out: no data frame may follow
	carry     []byte // the unsent tail of a frame cut by a write timeout

	aborted atomic.Bool

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

func newRawConn(c net.Conn) *rawConn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		return &rawConn{Conn: c, vectored: true}
	}
	return &rawConn{Conn: c}
}

var errAborted = errors.New("fanout: write aborted")

// Read returns the bytes net/http had buffered, then reads the socket.
// Only coder/websocket's reader calls it, one call at a time.
func (c *rawConn) Read(p []byte) (int, error) {
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
func (c *rawConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wsframe.IsClose(p) {
		c.closeSent = true
		if c.aborted.Load() {
			// Hub.Close interrupted data writes, not the goodbye: give the
			// close frame a short deadline of its own.
			_ = c.Conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		}
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
func (c *rawConn) flushCarry() error {
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

// writeFrames writes bufs in one socket write (writev, or one Write of a
// flattened copy). Each buf is a whole frame, or, with oneFrame, all of bufs
// make one frame. It returns how many frames were sent, counting a frame
// that the timeout cut: its tail is kept and written before any later byte,
// so the stream stays well formed and the frames after it can be dropped
// cleanly.
func (c *rawConn) writeFrames(bufs [][]byte, oneFrame bool, timeout time.Duration) (sent, bytes int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return 0, 0, net.ErrClosed
	}
	if timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
		defer c.Conn.SetWriteDeadline(time.Time{})
	}
	if c.aborted.Load() {
		c.failed.Store(true)
		return 0, 0, errAborted
	}
	c.writing.Add(1)
	defer c.writing.Add(-1)
	if err := c.flushCarry(); err != nil {
		c.failed.Store(true)
		return 0, 0, err
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	var n int64
	sc := getScratch()
	if c.vectored {
		sc.vec = append(sc.vec[:0], bufs...)
		base := sc.vec
		n, err = sc.vec.WriteTo(c.Conn) // consumes sc.vec
		clear(base)
		sc.vec = base[:0]
	} else {
		sc.flat = slices.Grow(sc.flat[:0], total)
		for _, b := range bufs {
			sc.flat = append(sc.flat, b...)
		}
		var m int
		m, err = c.Conn.Write(sc.flat)
		n = int64(m)
	}
	putScratch(sc)
	frames := len(bufs)
	if oneFrame {
		frames = 1
	}
	c.failed.Store(err != nil)
	if err == nil {
		return frames, total, nil
	}
	if c.aborted.Load() {
		err = fmt.Errorf("%w: %w", errAborted, err)
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

// maxKeptScratch is the largest write scratch buffer a subscriber keeps
// between batches; larger ones are left to the garbage collector.
const maxKeptScratch = 64 << 10

// abort makes a write in progress, and every later data write, fail now.
func (c *rawConn) abort() {
	c.aborted.Store(true)
	_ = c.Conn.SetWriteDeadline(time.Unix(1, 0))
}

// clean reports whether a close frame may still be written: no frame is
// half-written and none was aborted.
func (c *rawConn) clean() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.carry) == 0 && !c.closeSent
}

// writeClose writes a close frame directly, within timeout, without the
// closing handshake; Hub.Close uses it to say "going away" at once.
func (c *rawConn) writeClose(code uint16, reason string, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return net.ErrClosed
	}
	c.closeSent = true
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
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
func (c *rawConn) Close() error {
	if c.failed.Load() || c.writing.Load() > 0 || c.checkAcked.Load() && sock.Unacked(c.Conn) > 0 {
		sock.AbortOnClose(c.Conn)
	}
	return c.Conn.Close()
}

// reset closes the connection with a reset, whatever its state: its peer
// is gone or cut off.
func (c *rawConn) reset() error {
	c.failed.Store(true)
	return c.Close()
}
