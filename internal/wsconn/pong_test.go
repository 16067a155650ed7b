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
