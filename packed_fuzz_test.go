package fanout_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// WebSocket opcodes (RFC 6455, 5.2) of the data frames the Hub writes.
const (
	fuzzOpText   = 0x1
	fuzzOpBinary = 0x2
)

// fuzzRecord returns one record in the packed framing, built by hand from
// the format documented on PackedSubprotocol.
func fuzzRecord(kind byte, payload string) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{kind}, uint32(len(payload))), payload...)
}

// FuzzUnpack feeds Unpack arbitrary bytes. It must not panic; each record
// it reports must alias the frame right after its 5-byte header, with the
// type and length that header says, and no capacity beyond it (so that
// appending to one record's data cannot overwrite the next). A frame it
// accepts re-encodes to the same bytes with the library's encoder; one it
// rejects yields ErrBadPacked after exactly the records before the damage.
func FuzzUnpack(f *testing.F) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	f.Add([]byte{})
	f.Add(fuzzRecord(1, "hello"))
	f.Add(fuzzRecord(2, "\x00\xff"))
	f.Add(fuzzRecord(1, ""))
	f.Add(cat(fuzzRecord(1, "a"), fuzzRecord(2, "bc"), fuzzRecord(1, "")))
	f.Add(cat(fuzzRecord(1, "a"), []byte{1, 0, 0}))                  // truncated header
	f.Add(cat(fuzzRecord(1, "a"), fuzzRecord(3, "x")))               // an ID record: UnpackRecords'
	f.Add(cat(fuzzRecord(6, "ev"), fuzzRecord(1, "a")))              // an event type record (v2): UnpackRecords'
	f.Add(cat(fuzzRecord(7, "room"), fuzzRecord(2, "b")))            // a topic record (v2): UnpackRecords'
	f.Add(cat(fuzzRecord(1, "a"), fuzzRecord(8, "x")))               // unknown kind
	f.Add(cat(fuzzRecord(2, "a"), []byte{2, 0, 0, 0, 9, 'x'}))       // overrun
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 'x'})                    // huge length
	f.Add(cat(fuzzRecord(1, strings.Repeat("x", 70000)), []byte{0})) // long, then junk
	f.Fuzz(func(t *testing.T, frame []byte) {
		var (
			got []*fanout.Message
			off int // where the next record's header must start
		)
		err := fanout.Unpack(frame, func(typ fanout.MessageType, data []byte) error {
			if len(frame)-off < 5 {
				t.Fatalf("record %d: header at %d overruns the %d-byte frame", len(got), off, len(frame))
			}
			start := off + 5
			if len(data) > len(frame)-start {
				t.Fatalf("record %d: %d bytes at %d overrun the %d-byte frame",
					len(got), len(data), start, len(frame))
			}
			if len(data) > 0 && &data[0] != &frame[start] {
				t.Fatalf("record %d: data does not alias the frame at offset %d", len(got), start)
			}
			if cap(data) != len(data) {
				t.Fatalf("record %d: cap %d > len %d: appending would clobber the frame",
					len(got), cap(data), len(data))
			}
			if kind := frame[off]; !(kind == 1 && typ == fanout.Text) && !(kind == 2 && typ == fanout.Binary) {
				t.Fatalf("record %d: type %v for kind byte %d", len(got), typ, frame[off])
			}
			if n := binary.BigEndian.Uint32(frame[off+1:]); uint64(n) != uint64(len(data)) {
				t.Fatalf("record %d: %d bytes, header says %d", len(got), len(data), n)
			}
			off = start + len(data)
			if typ == fanout.Binary {
				got = append(got, fanout.NewBinaryMessage(data))
			} else {
				got = append(got, fanout.NewMessage(data))
			}
			return nil
		})
		enc := fanout.AppendRecords(nil, got, fanout.FramingPacked)
		if len(enc) != fanout.PackedLen(got, fanout.FramingPacked) {
			t.Fatalf("AppendRecords wrote %d bytes, PackedLen says %d", len(enc), fanout.PackedLen(got, fanout.FramingPacked))
		}
		fuzzCheckReencoded(t, frame, enc, err)

		// An error from fn stops Unpack at once and is returned as is.
		if len(got) == 0 {
			return
		}
		stop := errors.New("stop")
		k := len(frame) % len(got) // stop after record k
		calls := 0
		err = fanout.Unpack(frame, func(fanout.MessageType, []byte) error {
			calls++
			if calls > k {
				return stop
			}
			return nil
		})
		if err != stop || calls != k+1 {
			t.Fatalf("fn failing at record %d: Unpack returned %v after %d calls", k, err, calls)
		}
	})
}

// FuzzPackedRoundTrip encodes a list of text and binary payloads the way
// the Hub writes a batch to a packed client (one final binary frame of
// records) and checks that the frame header parses back (RFC 6455, 5.2) and
// Unpack returns the same list. layout cuts data into payloads: each pair of
// bytes is one message, its low bit the type, the rest its length.
func FuzzPackedRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte{0, 10})
	f.Add([]byte("hello, world"), []byte{0, 10, 0, 3, 0, 0, 0xff, 0xff})
	f.Add([]byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{0xab}, 70000), []byte{0xff, 0xfe, 0xff, 0xff, 0x00, 0xfd})
	f.Fuzz(func(t *testing.T, data, layout []byte) {
		var batch []*fanout.Message
		for i := 0; i+1 < len(layout); i += 2 {
			v := int(binary.BigEndian.Uint16(layout[i:]))
			n := min(v>>1, len(data))
			payload := data[:n:n]
			data = data[n:]
			if v&1 == 1 {
				batch = append(batch, fanout.NewBinaryMessage(payload))
			} else {
				batch = append(batch, fanout.NewMessage(payload))
			}
		}
		frame := fanout.AppendFrameHeader(nil, fuzzOpBinary, fanout.PackedLen(batch, fanout.FramingPacked))
		frame = fanout.AppendRecords(frame, batch, fanout.FramingPacked)

		h, err := fuzzParseFrameHeader(frame)
		if err != nil {
			t.Fatalf("packed frame header: %v", err)
		}
		if !h.fin || h.opcode != fuzzOpBinary || h.length != uint64(len(frame)-h.size) {
			t.Fatalf("packed frame header %+v for a %d-byte frame", h, len(frame))
		}
		i := 0
		err = fanout.Unpack(frame[h.size:], func(typ fanout.MessageType, data []byte) error {
			if i >= len(batch) {
				return fmt.Errorf("record %d: only %d were packed", i, len(batch))
			}
			if m := batch[i]; typ != m.Type() || !bytes.Equal(data, m.Data()) {
				return fmt.Errorf("record %d: %v %q, want %v %q", i, typ, data, m.Type(), m.Data())
			}
			i++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i != len(batch) {
			t.Fatalf("Unpack returned %d records, want %d", i, len(batch))
		}
	})
}

// FuzzFrameHeader checks appendFrameHeader, for any payload length and
// opcode, against fuzzParseFrameHeader, a reference parser written from
// RFC 6455, 5.2; and, for lengths up to a few header boundaries, a
// Message's whole prepared frame.
func FuzzFrameHeader(f *testing.F) {
	for _, n := range []int64{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 32, math.MaxInt64} {
		f.Add([]byte{}, byte(fuzzOpText), n)
	}
	f.Add([]byte("prefix"), byte(fuzzOpBinary), int64(200))
	f.Add([]byte{0x81}, byte(0x9), int64(0)) // a ping
	f.Fuzz(func(t *testing.T, prefix []byte, opcode byte, n int64) {
		if n < 0 || uint64(n) > math.MaxInt {
			return // not a length
		}
		opcode &= 0x0f
		if opcode&0x8 != 0 && n > 125 {
			return // a control frame carries at most 125 bytes (controlFrame's contract)
		}
		b := fanout.AppendFrameHeader(bytes.Clone(prefix), opcode, int(n))
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("the header overwrote the buffer's prefix %x: %x", prefix, b)
		}
		h, err := fuzzParseFrameHeader(b[len(prefix):])
		if err != nil {
			t.Fatalf("header %x for length %d: %v", b[len(prefix):], n, err)
		}
		if !h.fin || h.opcode != opcode || h.length != uint64(n) || h.size != len(b)-len(prefix) {
			t.Fatalf("header %x parses as %+v, want a final frame of opcode %d and length %d",
				b[len(prefix):], h, opcode, n)
		}

		if n > 70000 {
			return
		}
		data := bytes.Repeat([]byte{byte(n)}, int(n))
		for _, m := range []*fanout.Message{fanout.NewMessage(data), fanout.NewBinaryMessage(data)} {
			frame := m.WireFrame()
			h, err := fuzzParseFrameHeader(frame)
			want := byte(fuzzOpText)
			if m.Type() == fanout.Binary {
				want = fuzzOpBinary
			}
			switch {
			case err != nil:
				t.Fatalf("%v frame of %d bytes: %v", m.Type(), n, err)
			case !h.fin || h.opcode != want || h.length != uint64(n):
				t.Fatalf("%v frame of %d bytes: header %+v", m.Type(), n, h)
			case !bytes.Equal(frame[h.size:], data):
				t.Fatalf("%v frame of %d bytes: payload differs", m.Type(), n)
			}
		}
	})
}

// fuzzFrameHeader is a parsed frame header.
type fuzzFrameHeader struct {
	fin    bool
	opcode byte
	length uint64
	size   int // header bytes
}

// fuzzParseFrameHeader parses the header of an unmasked (server-to-client)
// frame per RFC 6455, 5.2, strictly: reserved bits clear, no mask, the
// minimal length encoding ("the minimal number of bytes MUST be used"), the
// 64-bit length's most significant bit clear, and control frames final and
// at most 125 bytes long.
func fuzzParseFrameHeader(b []byte) (h fuzzFrameHeader, err error) {
	if len(b) < 2 {
		return h, errors.New("shorter than 2 bytes")
	}
	h.fin = b[0]&0x80 != 0
	h.opcode = b[0] & 0x0f
	if b[0]&0x70 != 0 {
		return h, errors.New("reserved bits set")
	}
	if b[1]&0x80 != 0 {
		return h, errors.New("masked: a server must not mask")
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, errors.New("truncated 16-bit length")
		}
		h.length, h.size = uint64(binary.BigEndian.Uint16(b[2:])), 4
		if h.length < 126 {
			return h, fmt.Errorf("length %d not minimally encoded in 16 bits", h.length)
		}
	case 127:
		if len(b) < 10 {
			return h, errors.New("truncated 64-bit length")
		}
		h.length, h.size = binary.BigEndian.Uint64(b[2:]), 10
		if h.length>>63 != 0 {
			return h, errors.New("64-bit length with its most significant bit set")
		}
		if h.length <= 0xffff {
			return h, fmt.Errorf("length %d not minimally encoded in 64 bits", h.length)
		}
	default:
		h.length, h.size = uint64(l), 2
	}
	if h.opcode&0x8 != 0 && (!h.fin || h.length > 125) {
		return h, fmt.Errorf("control frame: fin %v, length %d", h.fin, h.length)
	}
	return h, nil
}

// TestFrameHeader_ReadByCoderClient anchors the reference parser to a real
// client: coder/websocket reads the Hub's prepared frames, text and binary,
// at every length where RFC 6455 changes the header's size.
func TestFrameHeader_ReadByCoderClient(t *testing.T) {
	t.Parallel()
	hub := fanout.NewHub(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	benchWaitFor(t, "the subscriber to register", func() bool { return hub.Len() == 1 })

	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 0x10001, 200_000} {
		for _, typ := range []fanout.MessageType{fanout.Text, fanout.Binary} {
			data := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
			m := fanout.NewMessage(data)
			wantType := websocket.MessageText
			if typ == fanout.Binary {
				m, wantType = fanout.NewBinaryMessage(data), websocket.MessageBinary
			}
			if err := hub.Publish(context.Background(), "t", m); err != nil {
				t.Fatal(err)
			}
			gotType, got, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("%v message of %d bytes: %v", typ, n, err)
			}
			if gotType != wantType || !bytes.Equal(got, data) {
				t.Fatalf("%v message of %d bytes: read %v of %d bytes", typ, n, gotType, len(got))
			}
		}
	}
}

// fuzzCheckReencoded checks that the records an unpacker accepted from
// frame re-encode (as enc) to frame itself, or, when it rejected the frame
// with err, to a strict prefix of it: the damage, not a record, was refused.
func fuzzCheckReencoded(t *testing.T, frame, enc []byte, err error) {
	t.Helper()
	if err == nil {
		if !bytes.Equal(enc, frame) {
			t.Fatalf("accepted frame re-encodes differently:\n got %x\nwant %x", enc, frame)
		}
		return
	}
	if !errors.Is(err, fanout.ErrBadPacked) {
		t.Fatalf("error %v does not wrap ErrBadPacked", err)
	}
	if len(enc) >= len(frame) || !bytes.HasPrefix(frame, enc) {
		t.Fatalf("rejected frame (%v), but its records re-encode to %x, not a strict prefix of %x", err, enc, frame)
	}
}
