package wsconn_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/fanout-go/fanout/internal/wsconn"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// FuzzReadPong feeds ReadPong any bytes a client may send: either it takes
// one whole masked pong (its payload unmasked) and leaves what follows, or
// it takes nothing, every byte it read being read again, in order; or the
// stream ended inside the frame.
func FuzzReadPong(f *testing.F) {
	f.Add(maskedPong([]byte("p")))
	f.Add(append(maskedPong(nil), "rest"...))
	f.Add([]byte{wsframe.Fin | wsframe.OpPong, 1, 'x'})
	f.Add([]byte{wsframe.Fin | wsframe.OpPong, 0xff})
	f.Add([]byte{wsframe.Fin | wsframe.OpText, 0x81, 1, 2, 3, 4, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() {
			_, _ = client.Write(data)
			client.Close()
		}()
		c := wsconn.New(server)
		defer c.Close()
		var pongs [][]byte
		st, err := wsconn.ReadPong(c, func(p []byte) { pongs = append(pongs, bytes.Clone(p)) })
		rest, _ := io.ReadAll(c)
		switch {
		case err != nil:
			if len(pongs) != 0 {
				t.Fatalf("a pong taken from a stream that ended: %v", err)
			}
		case st == wsconn.IdleMessage:
			if len(pongs) != 0 || !bytes.Equal(rest, data) {
				t.Fatalf("nothing taken, yet read back %x of %x (pongs %q)", rest, data, pongs)
			}
		case st == wsconn.IdleNone:
			size, ok := wsframe.ClientPong(data)
			if !ok || size == 0 || len(pongs) != 1 {
				t.Fatalf("took %q from %x, which is no whole client pong", pongs, data)
			}
			want := bytes.Clone(data[6:size])
			for i := range want {
				want[i] ^= data[2+i%4]
			}
			if !bytes.Equal(pongs[0], want) || !bytes.Equal(rest, data[size:]) {
				t.Fatalf("pong %x (want %x), then %x (want %x)", pongs[0], want, rest, data[size:])
			}
		default:
			t.Fatalf("ReadPong returned %v", st)
		}
	})
}

// TestTakePendingPongs: the whole pongs at the head of the bytes appended
// in front of the socket's are taken, in order; what follows (a pong in
// part, anything else) stays, for ReadPong or coder/websocket to read.
func TestTakePendingPongs(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	raw := wsconn.New(server)
	var got []string
	pong := func(p []byte) { got = append(got, string(p)) }

	if st := wsconn.TakePendingPongs(raw, pong); st != wsconn.IdleNone || raw.HasPending() {
		t.Fatalf("nothing appended: %v", st)
	}
	msg := []byte{wsframe.Fin | wsframe.OpText, 0x80, 1, 2, 3, 4}
	two := append(maskedPong([]byte("a")), maskedPong([]byte("bc"))...)
	raw.Append(append(append([]byte(nil), two...), msg...))
	if st := wsconn.TakePendingPongs(raw, pong); st != wsconn.IdleMessage {
		t.Fatalf("pongs then a message: %v, want IdleMessage", st)
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "bc" {
		t.Fatalf("pongs taken: %q", got)
	}
	b := make([]byte, len(msg))
	go func() { _, _ = client.Write([]byte("x")) }() // never read before the pending bytes
	if _, err := io.ReadFull(raw, b); err != nil || !bytes.Equal(b, msg) {
		t.Fatalf("what follows the pongs: %x, %v", b, err)
	}
	if _, err := io.ReadFull(raw, b[:1]); err != nil || b[0] != 'x' {
		t.Fatalf("then the socket: %q, %v", b[:1], err)
	}

	// A pong in part, then whole once its rest is appended.
	got = nil
	p := maskedPong([]byte("part"))
	raw.Append(p[:3])
	if st := wsconn.TakePendingPongs(raw, pong); st != wsconn.IdlePong || len(got) != 0 {
		t.Fatalf("a pong in part: %v, %q", st, got)
	}
	raw.Append(p[3:])
	if st := wsconn.TakePendingPongs(raw, pong); st != wsconn.IdleNone || raw.HasPending() || len(got) != 1 || got[0] != "part" {
		t.Fatalf("the whole pong: %v, %q, pending %v", st, got, raw.HasPending())
	}
}
