package fanout

import (
	"github.com/fanout-go/fanout/internal/wsframe"
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

// defaultCompressionThreshold is HubOptions.CompressionThreshold's
// default: below it, deflate saves a few bytes at best (and often adds
// some), for what compressing and inflating cost.
const defaultCompressionThreshold = 512

// appendDeflatedPacked appends the parts of batch's packed frame with its
// payload compressed: the header (RSV1 set), then each message's shared
// chunk, the last one without the tail that RFC 7692 removes. It returns
// parts unchanged and false when the batch's plain payload (plainLen) is
// under the threshold or compressing does not make it smaller.
func (w *wsSink) appendDeflatedPacked(parts [][]byte, batch []*Message, plainLen int) ([][]byte, bool) {
	if w.deflateMin <= 0 || plainLen < w.deflateMin {
		return parts, false
	}
	start, n := len(parts), -len(wsframe.DeflateTail)
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
	parts[len(parts)-1] = last[:len(last)-len(wsframe.DeflateTail)]
	hdr := wsframe.AppendHeader(w.hdr[:0], wsframe.OpBinary, n)
	hdr[0] |= wsframe.RSV1
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
