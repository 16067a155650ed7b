package fanout

import (
	"bytes"
	"compress/flate"
	"net/http"
	"strings"
	"sync"
)

// permessage-deflate (RFC 7692), compressed once per publish.
//
// A Hub with HubOptions.Compression lets coder/websocket negotiate the
// extension in its no-context-takeover form only: its response always says
// server_no_context_takeover and client_no_context_takeover. Each message
// is then compressed on its own, without the window of the messages before
// it, so the compressed frame does not depend on the connection: it is
// built once per Message, like the plain frame, and shared by every
// subscriber that negotiated the extension. coder/websocket inflates what
// clients send (ReadLimit bounds the inflated size).
//
// A message may always be sent uncompressed (RSV1 unset), so a subscriber
// gets the plain frame for a message below the threshold, for one that
// deflate does not make smaller, and for every packed frame: a packed
// frame is made per batch of the subscriber's own records, and compressing
// it would cost one compression per subscriber and batch.

// deflateLevel is the compress/flate level of every compressed frame:
// BestSpeed, as gorilla/websocket and coder/websocket use. On JSON of 1 to
// 64 KiB the slower levels save a further 5 to 19% of the bytes for 1.6 to
// 4.3 times the CPU (BenchmarkDeflateLevel), spent while the message's
// first writer waits (and the others wait for it).
const deflateLevel = flate.BestSpeed

// defaultCompressionThreshold is HubOptions.CompressionThreshold's
// default: below it, deflate saves a few bytes at best (and often adds
// some), for what compressing and inflating cost.
const defaultCompressionThreshold = 512

// rsv1 is the frame header bit that marks a compressed message.
const rsv1 = 0x40

// deflateTail ends a flushed DEFLATE stream (an empty stored block): RFC
// 7692, section 7.2.1, removes it from each compressed message, and the
// receiver adds it back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflater is a flate.Writer and the buffer it writes to, pooled: a
// flate.Writer holds several hundred KiB of tables.
type deflater struct {
	fw  *flate.Writer
	out []byte
}

func (d *deflater) Write(p []byte) (int, error) {
	d.out = append(d.out, p...)
	return len(p), nil
}

var deflaters = sync.Pool{New: func() any {
	d := &deflater{}
	d.fw, _ = flate.NewWriter(d, deflateLevel) // the level is valid: no error
	return d
}}

// wsDeflateFrame returns m's complete, unmasked WebSocket frame with its
// payload compressed (RSV1 set), building it on first use: one
// compression and one allocation per Message, whatever the number of
// subscribers that send it. It returns nil when compressing does not make
// the payload smaller; the plain frame (wsFrame) serves then.
func (m *Message) wsDeflateFrame() []byte {
	m.deflateOnce.Do(func() { m.deflated = deflateFrame(m.typ.opcode(), m.data) })
	return m.deflated
}

// deflateFrame returns a final frame with opcode carrying p compressed as
// RFC 7692 says, or nil if that is not shorter than p.
func deflateFrame(opcode byte, p []byte) []byte {
	d := deflaters.Get().(*deflater)
	defer func() {
		if cap(d.out) > maxKeptScratch {
			d.out = nil
		}
		deflaters.Put(d)
	}()
	d.out = d.out[:0]
	d.fw.Reset(d)
	_, _ = d.fw.Write(p) // into memory: it cannot fail
	_ = d.fw.Flush()
	c, ok := bytes.CutSuffix(d.out, deflateTail)
	if !ok || len(c) >= len(p) {
		return nil
	}
	f := make([]byte, 0, frameHeaderLen(len(c))+len(c))
	f = appendFrameHeader(f, opcode, len(c))
	f[0] |= rsv1
	return append(f, c...)
}

// dataFrame returns the frame that carries m to w's client: compressed
// where the client negotiated permessage-deflate, m is at least the
// threshold, and compressing saves bytes; the plain frame otherwise.
func (w *wsSink) dataFrame(m *Message) []byte {
	if w.deflateMin > 0 && len(m.data) >= w.deflateMin {
		if f := m.wsDeflateFrame(); f != nil {
			return f
		}
	}
	return m.wsFrame()
}

// deflateMin returns the wsSink.deflateMin of a connection whose handshake
// response carried h (as websocket.Accept wrote it), with framing f, for
// a Hub whose smallest compressed message is min bytes: min where the
// response accepted permessage-deflate and the frames are plain, 0 (none
// compressed) otherwise.
func deflateMin(h http.Header, f framing, min int) int {
	if f&framePacked != 0 || !acceptsDeflate(h) {
		return 0
	}
	return min
}

// acceptsDeflate reports whether a handshake response's header accepts
// permessage-deflate. (A message compressed on its own, as fanout
// compresses them, can be read with or without context takeover: it
// refers to nothing before it.)
func acceptsDeflate(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for ext := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.EqualFold(strings.TrimSpace(name), "permessage-deflate") {
				return true
			}
		}
	}
	return false
}
