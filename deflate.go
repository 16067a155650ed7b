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
// gets the plain frame for a message below the threshold, and for one that
// deflate does not make smaller.
//
// A packed frame (the resume and packed subprotocols) is made per batch of
// the subscriber's own records, so it cannot be compressed once for all.
// Its records can: each message's records, in each packed framing, are
// compressed on their own once (wsDeflateRecords) and end with a sync
// flush, so that the chunks of a batch's messages, one after the other,
// make one valid DEFLATE stream, the compressed payload of the frame: no
// chunk refers to the data of another (each compressor starts afresh), and
// each ends on a byte boundary. Only the frame's header is the
// subscriber's own.

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

// getDeflater returns a pooled deflater, reset, writing to its empty buffer.
func getDeflater() *deflater {
	d := deflaters.Get().(*deflater)
	d.out = d.out[:0]
	d.fw.Reset(d)
	return d
}

// putDeflater returns d to the pool, without a buffer grown past what is
// worth keeping.
func putDeflater(d *deflater) {
	if cap(d.out) > maxKeptScratch {
		d.out = nil
	}
	deflaters.Put(d)
}

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
	d := getDeflater()
	defer putDeflater(d)
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

// deflatedRecords holds a Message's packed records compressed, one chunk
// per packed framing, each built on first use.
type deflatedRecords struct {
	once   [4]sync.Once
	chunks [4][]byte
}

// wsDeflateRecords returns m's records in the packed framing f, compressed
// on their own and ended by a sync flush (its 0x00 0x00 0xff 0xff tail
// included), built once per Message and framing; nil if that failed.
func (m *Message) wsDeflateRecords(f framing) []byte {
	// Once, not a compare-and-swap: the writers of every subscriber get
	// here together, and each would allocate one to lose the race.
	m.deflatedRecsOnce.Do(func() { m.deflatedRecs = &deflatedRecords{} })
	d := m.deflatedRecs
	i := (f >> 1) & 3 // frameIDs and frameMeta
	d.once[i].Do(func() { d.chunks[i] = deflateRecords(m, f) })
	return d.chunks[i]
}

// deflateRecords compresses m's records in the packed framing f.
func deflateRecords(m *Message, f framing) []byte {
	d := getDeflater()
	defer putDeflater(d)
	var parts [maxRecordParts][]byte
	for _, p := range appendRecordParts(parts[:0], m, f) {
		_, _ = d.fw.Write(p) // into memory: it cannot fail
	}
	_ = d.fw.Flush()
	if !bytes.HasSuffix(d.out, deflateTail) {
		return nil
	}
	return bytes.Clone(d.out)
}

// appendDeflatedPacked appends the parts of batch's packed frame with its
// payload compressed: the header (RSV1 set), then each message's shared
// chunk, the last one without the tail that RFC 7692 removes. It returns
// parts unchanged and false when the batch's plain payload (plainLen) is
// under the threshold or compressing does not make it smaller.
func (w *wsSink) appendDeflatedPacked(parts [][]byte, batch []*Message, plainLen int) ([][]byte, bool) {
	if w.deflateMin <= 0 || plainLen < w.deflateMin {
		return parts, false
	}
	start, n := len(parts), -len(deflateTail)
	parts = append(parts, nil) // the header, once the length is known
	for _, m := range batch {
		c := m.wsDeflateRecords(w.framing)
		if c == nil {
			return parts[:start], false
		}
		parts = append(parts, c)
		n += len(c)
	}
	if n >= plainLen {
		return parts[:start], false
	}
	last := parts[len(parts)-1]
	parts[len(parts)-1] = last[:len(last)-len(deflateTail)]
	hdr := appendFrameHeader(w.hdr[:0], opBinary, n)
	hdr[0] |= rsv1
	parts[start] = hdr
	return parts, true
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
// response carried h (as websocket.Accept wrote it), for a Hub whose
// smallest compressed message (or packed payload) is min bytes: min where
// the response accepted permessage-deflate, 0 (none compressed) otherwise.
func deflateMin(h http.Header, min int) int {
	if !acceptsDeflate(h) {
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
