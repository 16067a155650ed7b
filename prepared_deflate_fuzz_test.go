package fanout_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/payload"
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
	f.Add(payload.JSON(4<<10, 1), false)
	f.Add(payload.Random(300, 1), true)
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

// TestDeflatePacked_Property checks the compressed packed frame of many
// batches (1 to 16 messages of JSON, random or repetitive bytes, text and
// binary, with and without an event type): the messages' compressed
// records (each made on its own), one after the other and without the last
// one's tail, inflate with one fresh decompressor to the batch's plain
// packed payload, which UnpackRecords reads back to the messages, on every
// packed subprotocol. (A fuzzer of it spends its time in compress/flate's
// own coverage: a property over chosen inputs says more per second.)
func TestDeflatePacked_Property(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var data []byte
		switch round % 3 {
		case 0:
			data = payload.JSON(rng.IntN(16<<10), uint64(round))
		case 1:
			data = payload.Random(rng.IntN(4<<10), uint64(round))
		default:
			data = bytes.Repeat([]byte("ab"), rng.IntN(8<<10))
		}
		event := ""
		if round%4 == 0 {
			event = "quote"
		}
		checkDeflatePacked(t, data, rng.IntN(16)+1, event)
	}
}

// checkDeflatePacked splits data into n messages and checks their
// compressed packed frame (see TestDeflatePacked_Property).
func checkDeflatePacked(t *testing.T, data []byte, n int, event string) {
	t.Helper()
	var batch []*fanout.Message
	for i := range n {
		p := data[i*len(data)/n : (i+1)*len(data)/n]
		m := fanout.NewBinaryMessage(p)
		if i%2 == 0 && utf8.Valid(p) {
			m = fanout.NewMessage(p)
		}
		if event != "" {
			m = m.WithEvent(event)
		}
		batch = append(batch, m.WithID(fmt.Sprint("e-", i)))
	}
	for _, proto := range []string{fanout.ResumeSubprotocolV2, fanout.ResumeSubprotocol, fanout.PackedSubprotocolV2, fanout.PackedSubprotocol} {
		var compressed, plain []byte
		for _, m := range batch {
			d, p := m.WireDeflateRecords(proto)
			if !bytes.HasSuffix(d, []byte{0, 0, 0xff, 0xff}) {
				t.Fatalf("%s: a piece without the sync flush's tail: %x", proto, d[max(0, len(d)-8):])
			}
			compressed, plain = append(compressed, d...), append(plain, p...)
		}
		got, err := inflate(compressed[:len(compressed)-4])
		if err != nil {
			t.Fatalf("%s: inflate: %v", proto, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%s: inflates to %d bytes that differ from the %d plain", proto, len(got), len(plain))
		}
		i := 0
		err = fanout.UnpackRecords(got, func(r fanout.Record) error {
			if i >= len(batch) || !bytes.Equal(r.Data, batch[i].Data()) || r.Type != batch[i].Type() {
				return fmt.Errorf("record %d differs", i)
			}
			i++
			return nil
		})
		if err != nil || i != len(batch) {
			t.Fatalf("%s: %d of %d records read back: %v", proto, i, len(batch), err)
		}
	}
}
