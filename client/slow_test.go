package client_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// TestClient_SlowConsumer: an application that stops calling Next stops
// the client reading, so the Hub finds it slow and closes it (1013, or a
// reset when it does not read even the close); once the application reads
// again, the client reconnects and resumes: it ends with every message
// published, none twice, though it was dropped while messages kept coming.
func TestClient_SlowConsumer(t *testing.T) {
	for _, sse := range []bool{false, true} {
		name := map[bool]string{false: "websocket", true: "sse"}[sse]
		t.Run(name, func(t *testing.T) {
			slow := make(chan struct{}, 1)
			opts := storeOptions()
			opts.QueueSize = 8
			opts.SendBufferSize = 4 << 10
			opts.OnSlow = func(ev fanout.SlowEvent) fanout.Policy {
				select {
				case slow <- struct{}{}:
				default:
				}
				return ev.Policy
			}
			s := newServer(t, opts)
			u := s.wsURL("room")
			if sse {
				u = s.sseURL("room")
			}
			o := &client.Options{HTTPClient: smallReceiveBuffers(t)}
			ev := hook(o)
			c := dial(t, u, o)
			sub := s.subscriber()
			ev.connected(t)
			positionWritten(t, sub) // before the queue fills

			// Publish until the Hub finds the client slow: a queue of 8 on
			// top of a few KiB of socket buffers, so a few dozen messages.
			hub, pad := s.current(), strings.Repeat(".", 4<<10)
			n := 0
			for found := false; !found; {
				if n++; n > 10000 {
					t.Fatal("the Hub never found the client slow")
				}
				if err := hub.Publish(context.Background(), "room", fanout.NewMessage([]byte(strconv.Itoa(n)+pad))); err != nil {
					t.Fatal(err)
				}
				select {
				case <-slow:
					found = true
				default:
				}
			}
			for range 10 { // while it is away
				n++
				if err := hub.Publish(context.Background(), "room", fanout.NewMessage([]byte(strconv.Itoa(n)+pad))); err != nil {
					t.Fatal(err)
				}
			}

			r := startReader(t, c)
			got := make([]int, 0, n)
			for len(got) < n {
				m := r.next()
				if m.Resync {
					t.Fatalf("after %d messages: a resync (%s)", len(got), m.Data)
				}
				i, err := strconv.Atoi(strings.TrimRight(string(m.Data), "."))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, i)
			}
			checkSequence(t, got, 1, n)
			if len(ev.retries) == 0 {
				t.Error("the client was never dropped")
			}
		})
	}
}

// smallReceiveBuffers returns an HTTP client whose first connection has a
// small kernel receive buffer, so that a client that stops reading is
// found slow after a few messages, not megabytes. (The next ones are
// ordinary: through so small a window, TCP crawls.)
func smallReceiveBuffers(t *testing.T) *http.Client {
	d := &net.Dialer{}
	var dials atomic.Int32
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok && dials.Add(1) == 1 {
				_ = tc.SetReadBuffer(4 << 10)
			}
			return c, err
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
