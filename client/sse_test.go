package client_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout/client"
)

// FuzzReadEvents feeds the SSE reader any bytes a server (or a proxy, or
// the network) may send: it never panics, always ends with an error that
// says why (the end of the stream, a close status, a protocol error or
// ErrTooLarge), gives every position an ID, and every message the data of
// its event.
func FuzzReadEvents(f *testing.F) {
	for _, s := range []string{
		"",
		"data: hi\n\n",
		"id: k2f9w-1\ndata: hi\n\n",
		"event: fanout.position\nid: k2f9w-0\ndata: k2f9w-0\n\nid: k2f9w-1\ndata: a\ndata: b\n\n",
		"event: fanout.resync\ndata: unknown\n\ndata: live\n\n",
		"event: price\nid: e-7\ndata: {\"bid\":101}\n\n: keepalive\n\n",
		"retry: 1000\n\nevent: fanout.close\ndata: 4001 signed out\n\n",
		"event: fanout.close\ndata: 99999 x\n\n",
		"event: fanout.position\ndata\n\n",
		"data: no end",
		"\ufeffdata: bom\r\n\r\n",
		"id\n\ndata: x\r\rdata: y\n\n",
		"data: " + strings.Repeat("x", 600) + "\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream string) {
		const limit = 512
		err := client.ReadEvents(strings.NewReader(stream), limit, func(m client.Message, position bool) error {
			if position && m.ID == "" {
				t.Errorf("a position without an ID")
			}
			if m.Resync && position {
				t.Errorf("a resync that is a position")
			}
			if len(m.Data) > limit {
				t.Errorf("%d bytes of data through a limit of %d", len(m.Data), limit)
			}
			return nil
		})
		if ce, ok := errors.AsType[websocket.CloseError](err); ok {
			if ce.Code < 1000 || ce.Code > 4999 {
				t.Errorf("close status %d", ce.Code)
			}
			return
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, client.ErrProtocol) && !errors.Is(err, client.ErrTooLarge) {
			t.Errorf("the stream ended with %v", err)
		}
	})
}

// BenchmarkReadEvents reads a stream of 1,000 events of 1 KiB, with IDs.
func BenchmarkReadEvents(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		sb.WriteString("id: k2f9w-" + "12345" + "\ndata: " + strings.Repeat("x", 1024) + "\n\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = client.ReadEvents(strings.NewReader(s), 1<<20, func(client.Message, bool) error { return nil })
	}
}
