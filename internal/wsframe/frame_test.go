package wsframe_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"math"
	"net/http"
	"testing"

	"github.com/fanout-go/fanout/internal/wsframe"
)

// parseHeader parses a server frame header per RFC 6455, 5.2, strictly:
// no mask, the minimal length encoding, control frames final and short.
func parseHeader(t *testing.T, b []byte) (first byte, n uint64, size int) {
	t.Helper()
	if len(b) < 2 || b[1]&0x80 != 0 {
		t.Fatalf("header %x: short or masked", b)
	}
	n, size = uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		n, size = uint64(binary.BigEndian.Uint16(b[2:])), 4
		if n < 126 {
			t.Fatalf("header %x: 16-bit length %d not minimal", b, n)
		}
	case 127:
		n, size = binary.BigEndian.Uint64(b[2:]), 10
		if n <= 0xffff || n>>63 != 0 {
			t.Fatalf("header %x: 64-bit length %d not minimal or too long", b, n)
		}
	}
	if b[0]&0x08 != 0 && (b[0]&wsframe.Fin == 0 || n > wsframe.MaxControlPayload) {
		t.Fatalf("header %x: a control frame not final, or longer than 125 bytes", b)
	}
	return b[0], n, size
}

func FuzzAppendHeader(f *testing.F) {
	for _, n := range []int64{0, 125, 126, 0xffff, 0x10000, math.MaxInt64} {
		f.Add([]byte{}, byte(wsframe.OpText), n)
	}
	f.Add([]byte("prefix"), byte(wsframe.OpPing), int64(3))
	f.Fuzz(func(t *testing.T, prefix []byte, opcode byte, n int64) {
		opcode &= 0x0f
		if n < 0 || opcode&0x8 != 0 && n > wsframe.MaxControlPayload {
			return
		}
		b := wsframe.AppendHeader(bytes.Clone(prefix), opcode, int(n))
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("the header overwrote the prefix")
		}
		first, got, size := parseHeader(t, b[len(prefix):])
		if first != wsframe.Fin|opcode || got != uint64(n) || size != len(b)-len(prefix) || size != wsframe.HeaderLen(int(n)) {
			t.Fatalf("header %x for opcode %d, length %d", b[len(prefix):], opcode, n)
		}
	})
}

func TestClose(t *testing.T) {
	f := wsframe.Close(1001, "bye")
	if want := []byte{0x88, 5, 0x03, 0xe9, 'b', 'y', 'e'}; !bytes.Equal(f, want) {
		t.Fatalf("close frame %x, want %x", f, want)
	}
	if !wsframe.IsClose(f) || wsframe.IsClose(wsframe.Control(wsframe.OpPing, nil)) || wsframe.IsClose(nil) {
		t.Fatal("IsClose")
	}
}

// maskedPong is a client's pong frame carrying p under mask.
func maskedPong(p []byte, mask [4]byte) []byte {
	f := append([]byte{wsframe.Fin | wsframe.OpPong, 0x80 | byte(len(p))}, mask[:]...)
	for i, c := range p {
		f = append(f, c^mask[i%4])
	}
	return f
}

func TestClientPong(t *testing.T) {
	f := maskedPong([]byte("hello"), [4]byte{1, 2, 3, 4})
	for i := range f {
		size, ok := wsframe.ClientPong(f[:i+1])
		want := 0
		if i > 0 {
			want = len(f)
		}
		if !ok || size != want {
			t.Fatalf("%d bytes: size %d, ok %v; want %d, true", i+1, size, ok, want)
		}
	}
	if got := wsframe.PongPayload(f); string(got) != "hello" {
		t.Fatalf("payload %q", got)
	}
	for _, b := range [][]byte{nil, {0x89}, {0x0A}, {0x8A, 5}, {0x8A, 0x80 | 126}} {
		if _, ok := wsframe.ClientPong(b); ok {
			t.Errorf("%x taken for a pong", b)
		}
	}
}

func FuzzClientPong(f *testing.F) {
	f.Add([]byte("payload"), []byte{1, 2, 3, 4}, 3)
	f.Fuzz(func(t *testing.T, p, mask []byte, cut int) {
		if len(p) > wsframe.MaxControlPayload || len(mask) != 4 {
			return
		}
		fr := maskedPong(p, [4]byte(mask))
		cut = max(1, min(len(fr), cut))
		size, ok := wsframe.ClientPong(fr[:cut])
		if !ok || cut >= 2 && size != len(fr) {
			t.Fatalf("%x: size %d, ok %v", fr[:cut], size, ok)
		}
		if got := wsframe.PongPayload(fr); !bytes.Equal(got, p) {
			t.Fatalf("payload %x, want %x", got, p)
		}
	})
}

// inflate decompresses a permessage-deflate payload (its tail removed).
func inflate(t *testing.T, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(wsframe.DeflateTail)))
	b, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflate: %v", err)
	}
	return b
}

func TestDeflate(t *testing.T) {
	data := bytes.Repeat([]byte(`{"k":"value"},`), 100)
	f := wsframe.DeflateMessage(wsframe.OpText, data)
	first, n, size := parseHeader(t, f)
	if first != wsframe.Fin|wsframe.RSV1|wsframe.OpText || int(n) != len(f)-size {
		t.Fatalf("header %x", f[:size])
	}
	if got := inflate(t, f[size:]); !bytes.Equal(got, data) {
		t.Fatal("the compressed frame inflates to other data")
	}
	if wsframe.DeflateMessage(wsframe.OpText, []byte("x")) != nil {
		t.Fatal("a message that does not shrink was compressed")
	}
	// Chunks back to back, the last without its tail, make one payload.
	a, b := wsframe.DeflateChunk([][]byte{[]byte("one "), data}), wsframe.DeflateChunk([][]byte{data})
	p := append(bytes.Clone(a), bytes.TrimSuffix(b, wsframe.DeflateTail)...)
	if got, want := inflate(t, p), append([]byte("one "), append(data, data...)...); !bytes.Equal(got, want) {
		t.Fatal("chunks inflate to other data")
	}
}

func TestAcceptsDeflate(t *testing.T) {
	for v, want := range map[string]bool{
		"":                   false,
		"x-other":            false,
		"permessage-deflate": true,
		"x-other, Permessage-Deflate; server_no_context_takeover": true,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Sec-WebSocket-Extensions", v)
		}
		if got := wsframe.AcceptsDeflate(h); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

// TestFrameDeflated: chunks framed as one compressed binary frame: RSV1
// set, the header's length the payload's, which inflates to the chunks'
// data; the chunks themselves stay whole (other frames share them).
func TestFrameDeflated(t *testing.T) {
	data := bytes.Repeat([]byte(`{"k":"value"},`), 100)
	a, b := wsframe.DeflateChunk([][]byte{[]byte("one "), data}), wsframe.DeflateChunk([][]byte{data})
	bLen := len(b)
	parts := [][]byte{nil, a, b}
	n := wsframe.FrameDeflated(parts, make([]byte, 0, wsframe.MaxHeaderLen))
	frame := bytes.Join(parts, nil)
	first, hn, size := parseHeader(t, frame)
	if first != wsframe.Fin|wsframe.RSV1|wsframe.OpBinary || int(hn) != n || n != len(frame)-size {
		t.Fatalf("header %x (length %d), FrameDeflated = %d, payload %d", frame[:size], hn, n, len(frame)-size)
	}
	if got, want := inflate(t, frame[size:]), append([]byte("one "), append(data, data...)...); !bytes.Equal(got, want) {
		t.Fatal("the frame inflates to other data")
	}
	if len(b) != bLen || !bytes.HasSuffix(b, wsframe.DeflateTail) {
		t.Fatal("FrameDeflated changed a chunk")
	}
}
