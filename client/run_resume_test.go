package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// transport is one way to reach a server's stream that resumes.
type transport struct {
	name string
	urls func(s *server, topic string) (string, []string) // New's URL, and Options.URLs
}

var resumingTransports = []transport{
	{"websocket", func(s *server, topic string) (string, []string) { return s.wsURL(topic), nil }},
	{"sse", func(s *server, topic string) (string, []string) { return s.sseURL(topic), nil }},
	{"alternating", func(s *server, topic string) (string, []string) {
		// Each reconnection switches transport, resuming with the same ID.
		return s.wsURL(topic), []string{s.sseURL(topic)}
	}},
}

// TestClient_ResumesAcrossCuts: a client reading while the server
// publishes ends with exactly the published sequence, though its
// connection is reset in the middle of a frame (or an event) again and
// again, and messages are published while it is away.
func TestClient_ResumesAcrossCuts(t *testing.T) {
	for _, tr := range resumingTransports {
		t.Run(tr.name, func(t *testing.T) {
			s := newServer(t, storeOptions())
			u, more := tr.urls(s, "room")
			o := &client.Options{URLs: more}
			ev := hook(o)
			c := dial(t, u, o)
			r := startReader(t, c)
			ev.connected(t)

			const rounds, per = 5, 40
			n := 0
			var got []int
			for range rounds {
				s.publish("room", n+1, n+per)
				n += per
				// Read these first: the cut must fall on the next write,
				// not on this connection's first (its position).
				got = append(got, r.numbers(n-len(got))...)
				s.ln.arm()
				s.publish("room", n+1, n+per) // the first write of these is cut
				n += per
				s.ln.waitCut(t)
				if err := ev.retried(t); errors.Is(err, client.ErrProtocol) {
					t.Fatalf("a cut is a network error, not %v", err)
				}
				s.publish("room", n+1, n+per) // while the client may be away
				n += per
				ev.connected(t)
			}
			s.publish("room", n+1, n+per)
			n += per
			checkSequence(t, append(got, r.numbers(n-len(got))...), 1, n)
		})
	}
}

// TestClient_ShutdownReconnects: a Hub's Shutdown (1001, going away) makes
// the client reconnect; with the store kept (a persistent one, or a Redis
// engine), the Hub that replaces it resumes the client from its last ID,
// including what was published in between.
func TestClient_ShutdownReconnects(t *testing.T) {
	for _, tr := range resumingTransports {
		t.Run(tr.name, func(t *testing.T) {
			opts := storeOptions()
			s := newServer(t, opts)
			u, more := tr.urls(s, "room")
			o := &client.Options{URLs: more}
			ev := hook(o)
			c := dial(t, u, o)
			r := startReader(t, c)
			ev.connected(t)
			s.publish("room", 1, 5)
			checkSequence(t, r.numbers(5), 1, 5)

			old := s.install(opts) // the same Ring behind a new Hub
			s.publish("room", 6, 8)
			if err := old.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			err := ev.retried(t)
			if tr.name != "sse" && websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("the client retried after %v, want status 1001", err)
			}
			if tr.name == "sse" && !errors.Is(err, io.EOF) {
				t.Errorf("the client retried after %v, want the end of the stream", err)
			}
			ev.connected(t)
			s.publish("room", 9, 10)
			checkSequence(t, r.numbers(5), 6, 10)
		})
	}
}

// TestClient_RestartResyncs: a server that restarts with a new in-memory
// store (a new Hub and Ring on the same address) cannot tell what the
// client missed: the client reports a resync ("unknown"), then the live
// messages, whose IDs are of the new store.
func TestClient_RestartResyncs(t *testing.T) {
	for _, tr := range resumingTransports {
		t.Run(tr.name, func(t *testing.T) {
			s := newServer(t, storeOptions())
			u, more := tr.urls(s, "room")
			o := &client.Options{URLs: more}
			ev := hook(o)
			c := dial(t, u, o)
			r := startReader(t, c)
			ev.connected(t)
			s.publish("room", 1, 3)
			checkSequence(t, r.numbers(3), 1, 3)
			before := c.LastEventID()

			old := s.install(storeOptions())
			s.publish("room", 4, 4) // before the client is back: the resync covers it
			_ = old.Close()
			ev.connected(t)
			m := r.next()
			if !m.Resync || string(m.Data) != client.ResyncUnknown {
				t.Fatalf("after a restart, got %+v, want a resync %q", m, client.ResyncUnknown)
			}
			s.publish("room", 5, 6)
			checkSequence(t, r.numbers(2), 5, 6)
			if after := c.LastEventID(); after == before || after == "" {
				t.Errorf("LastEventID after the restart is %q (before: %q), want an ID of the new store", after, before)
			}
		})
	}
}

// TestClient_ResumesUnderLoad: as TestClient_ResumesAcrossCuts, with a
// publisher that never waits for the cuts (only, so as not to outrun the
// store, for the client to come within a window of it), so that cuts,
// replays and live messages meet wherever the scheduler puts them.
func TestClient_ResumesUnderLoad(t *testing.T) {
	for _, tr := range resumingTransports {
		t.Run(tr.name, func(t *testing.T) {
			s := newServer(t, storeOptions())
			u, more := tr.urls(s, "room")
			o := &client.Options{URLs: more}
			ev := hook(o)
			r := startReader(t, dial(t, u, o))
			positionWritten(t, s.subscriber()) // before the first cut
			ev.connected(t)

			const cuts, atLeast, window = 10, 2000, 1000
			cutsDone, stop := make(chan struct{}), make(chan struct{})
			defer close(stop)
			go func() { // cut, wait for the client to be back, again
				defer close(cutsDone)
				for range cuts {
					s.ln.arm()
					select {
					case <-s.ln.cuts:
					case <-stop:
						return
					}
					select {
					case <-ev.connects:
					case <-stop:
						return
					}
				}
			}()

			hub, got := s.current(), make([]int, 0, atLeast)
			take := func() {
				m := r.next()
				if m.Resync {
					t.Fatalf("after %d messages: a resync (%s)", len(got), m.Data)
				}
				i, err := strconv.Atoi(string(m.Data))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, i)
			}
			n := 0
			for done := false; !done || n < atLeast; {
				n++
				if err := hub.Publish(context.Background(), "room", fanout.NewMessage([]byte(strconv.Itoa(n)))); err != nil {
					t.Fatal(err)
				}
				for n-len(got) > window {
					take()
				}
				select {
				case <-cutsDone:
					done = true
				default:
				}
			}
			for len(got) < n {
				take()
			}
			checkSequence(t, got, 1, n)
		})
	}
}

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
