package fanout_test

import (
	"bytes"
	"testing"

	"github.com/fanout-go/fanout"
)

// FuzzDeflateFrame checks a Message's compressed frame for any payload:
// FIN and RSV1 set, the message's opcode, a header that the reference
// parser (fuzzParseFrameHeader) reads once RSV1 is cleared, and a payload
// shorter than the message that a fresh decompressor inflates back to it
// (RFC 7692, 7.2.2); or no compressed frame at all, for a payload that
// deflate does not shrink.
func FuzzDeflateFrame(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte("hello"), false)
	f.Add(bytes.Repeat([]byte("ab"), 1000), true)
	f.Add(jsonPayload(4<<10, 1), false)
	f.Add(randomBytes(300, 1), true)
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		m, op := fanout.NewMessage(data), byte(fuzzOpText)
		if binary {
			m, op = fanout.NewBinaryMessage(data), fuzzOpBinary
		}
		frame := m.WireDeflateFrame()
		if frame == nil {
			return // not shrunk: the plain frame serves
		}
		if frame[0]&0x40 == 0 {
			t.Fatalf("RSV1 unset: %x", frame[0])
		}
		hdr := bytes.Clone(frame[:min(len(frame), 10)])
		hdr[0] &^= 0x40
		h, err := fuzzParseFrameHeader(hdr)
		if err != nil {
			t.Fatalf("header %x: %v", frame[:min(len(frame), 10)], err)
		}
		p := frame[h.size:]
		switch {
		case !h.fin || h.opcode != op || h.length != uint64(len(p)):
			t.Fatalf("header %+v for a %d-byte payload, opcode %d", h, len(p), op)
		case len(p) >= len(data):
			t.Fatalf("compressed to %d bytes, from %d: not smaller", len(p), len(data))
		}
		got, err := inflate(p)
		if err != nil {
			t.Fatalf("inflate: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("inflates to %d bytes that differ from the %d published", len(got), len(data))
		}
	})
}
