package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// TestClient_Close: Close is idempotent and safe concurrently, returns
// once the client's goroutine has exited (goleak checks that), whatever
// the client was doing: reading, waiting to hand over a message nobody
// asks for, waiting to reconnect, or in a handshake the server never
// answers. Next then returns ErrClosed; LastEventID keeps the last ID
// returned.
func TestClient_Close(t *testing.T) {
	t.Run("reading", func(t *testing.T) {
		s := newServer(t, storeOptions())
		c := dial(t, s.wsURL("room"), nil)
		s.subscriber()
		s.publish("room", 1, 1)
		m, err := c.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		closeTwice(t, c)
		if _, err := c.Next(context.Background()); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Next after Close: %v, want ErrClosed", err)
		}
		if id := c.LastEventID(); id != m.ID || id == "" {
			t.Errorf("LastEventID after Close: %q, want %q", id, m.ID)
		}
	})
	for _, sse := range []bool{false, true} {
		t.Run("holding a message "+map[bool]string{false: "websocket", true: "sse"}[sse], func(t *testing.T) {
			s := newServer(t, storeOptions())
			u := s.wsURL("room")
			if sse {
				u = s.sseURL("room")
			}
			c := dial(t, u, nil)
			s.subscriber()
			s.publish("room", 1, 100) // nobody calls Next
			closeTwice(t, c)
		})
	}
	t.Run("waiting to reconnect", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "later", http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		o := &client.Options{}
		ev := hook(o)
		c, err := client.New(srv.URL, o) // the real clock: an hour's wait
		if err != nil {
			t.Fatal(err)
		}
		ev.retried(t)
		closeTwice(t, c)
	})
	t.Run("in a handshake", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept() // and never answer
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		c, err := client.New("ws://"+ln.Addr().String()+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		conn := <-accepted
		closeTwice(t, c)
		_ = conn.Close()
		_ = ln.Close()
	})
}

// closeTwice closes c from two goroutines at once.
func closeTwice(t *testing.T, c *client.Client) {
	t.Helper()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}

// TestClient_NextContext: a Next whose context ends gives up waiting, and
// only that: the connection goes on, and the next call gets the message.
func TestClient_NextContext(t *testing.T) {
	for _, sse := range []bool{false, true} {
		s := newServer(t, storeOptions())
		u := s.wsURL("room")
		if sse {
			u = s.sseURL("room")
		}
		o := &client.Options{}
		ev := hook(o)
		c := dial(t, u, o)
		ev.connected(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next with a canceled context: %v", err)
		}
		s.publish("room", 1, 1)
		if m, err := c.Next(context.Background()); err != nil || string(m.Data) != "1" {
			t.Fatalf("Next: %+v, %v", m, err)
		}
		if len(ev.retries) != 0 {
			t.Errorf("the client reconnected: %v", <-ev.retries)
		}
	}
}

// TestClient_LastEventID: a client started with Options.LastEventID
// resumes from it (it gets what followed, then live messages), on both
// transports; LastEventID reports it until Next returns a message, then
// that message's ID.
func TestClient_LastEventID(t *testing.T) {
	for _, sse := range []bool{false, true} {
		s := newServer(t, storeOptions())
		first := dial(t, s.wsURL("room"), nil)
		s.subscriber()
		s.publish("room", 1, 5)
		var ids []string
		for range 5 {
			m, err := first.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		_ = first.Close()

		u := s.wsURL("room")
		if sse {
			u = s.sseURL("room")
		}
		c := dial(t, u, &client.Options{LastEventID: ids[1]})
		if id := c.LastEventID(); id != ids[1] {
			t.Errorf("LastEventID before Next: %q, want %q", id, ids[1])
		}
		r := startReader(t, c)
		checkSequence(t, r.numbers(3), 3, 5)
		if id := c.LastEventID(); id != ids[4] {
			t.Errorf("LastEventID: %q, want %q", id, ids[4])
		}
		s.publish("room", 6, 6)
		checkSequence(t, r.numbers(1), 6, 6)
	}
}

// TestClient_Position: a new stream starts with the server's position, so
// that a client that drops before its first message still resumes exactly
// from there: no resync, nothing missed.
func TestClient_Position(t *testing.T) {
	for _, sse := range []bool{false, true} {
		s := newServer(t, storeOptions())
		s.publish("room", -1, 0) // before the client: not for it
		u := s.wsURL("room")
		if sse {
			u = s.sseURL("room")
		}
		o := &client.Options{}
		ev := hook(o)
		r := startReader(t, dial(t, u, o))
		sub := s.subscriber()
		ev.connected(t)
		// The position reaches the reader before the close does: the
		// client reads its connection in order. (Close discards what is
		// still queued: a position not yet written would go too, and the
		// client would rightly get a resync instead.)
		positionWritten(t, sub)
		if err := sub.CloseWith(fanout.StatusTryAgainLater, "later"); err != nil {
			t.Fatal(err)
		}
		s.publish("room", 1, 3) // while the client may be away
		ev.connected(t)
		checkSequence(t, r.numbers(3), 1, 3)
	}
}

// TestClient_URLs: each attempt takes the next URL, so a client whose
// first node is down connects to the next one (and would to a third,
// sharing the engine, after that).
func TestClient_URLs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "ws://" + ln.Addr().String() + "/ws?topic=room"
	_ = ln.Close() // connections are refused
	s := newServer(t, storeOptions())
	o := &client.Options{URLs: []string{s.wsURL("room")}}
	ev := hook(o)
	r := startReader(t, dial(t, down, o))
	if err := ev.retried(t); websocket.CloseStatus(err) != -1 {
		t.Errorf("a refused connection: %v", err)
	}
	ev.connected(t)
	s.publish("room", 1, 2)
	checkSequence(t, r.numbers(2), 1, 2)
}

// TestNew_BadURL: New refuses what it cannot connect to, before trying.
func TestNew_BadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080/ws", "ftp://example.com/", "ws:///ws", "http://[::1"} {
		if c, err := client.New(u, nil); err == nil {
			_ = c.Close()
			t.Errorf("New(%q) did not fail", u)
		}
	}
	if c, err := client.New("ws://example.com/", &client.Options{URLs: []string{"gopher://x"}}); err == nil {
		_ = c.Close()
		t.Error("New with a bad URL in Options.URLs did not fail")
	}
	if c, err := client.New("ws://example.com/", &client.Options{Mode: 9}); err == nil {
		_ = c.Close()
		t.Error("New with an unknown Mode did not fail")
	}
}

// TestClient_TLS: over TLS, with HTTP/2 enabled on the server, the SSE
// stream comes over HTTP/2 (the Broker writes it through the
// ResponseWriter) and the WebSocket over HTTP/1.1 (an upgrade needs it),
// through the caller's HTTPClient; both resume after a Shutdown.
func TestClient_TLS(t *testing.T) {
	for _, sse := range []bool{false, true} {
		opts := storeOptions()
		s := newTLSServer(t, opts)
		u := s.wsURL("room") // wss://
		proto := "HTTP/1.1"
		if sse {
			u, proto = s.sseURL("room"), "HTTP/2.0"
		}
		o := &client.Options{HTTPClient: s.http.Client()}
		ev := hook(o)
		r := startReader(t, dial(t, u, o))
		ev.connected(t)
		if p := <-s.protos; p != proto {
			t.Errorf("sse %v: the request came over %s, want %s", sse, p, proto)
		}
		s.publish("room", 1, 2)
		checkSequence(t, r.numbers(2), 1, 2)

		old := s.install(opts)
		s.publish("room", 3, 4)
		if err := old.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		ev.connected(t)
		s.publish("room", 5, 6)
		checkSequence(t, r.numbers(4), 3, 6)
	}
}
