package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fanout-go/fanout/client"
)

// TestClient_IdleTimeout: a server that accepts the client (101, or 200
// and an event stream) and then says nothing is given up after
// IdleTimeout: the client tries again, and again.
func TestClient_IdleTimeout(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(map[bool]string{false: "websocket", true: "sse"}[sse], func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, true)
			u := s.wsURL()
			if sse {
				u = s.sseURL()
			}
			o := &client.Options{IdleTimeout: 100 * time.Millisecond}
			ev := hook(o)
			startReader(t, dial(t, u, o))
			for i := range 3 {
				ev.connected(t)
				if err := ev.retried(t); !errors.Is(err, client.ErrIdle) {
					t.Fatalf("retry %d after %v, want ErrIdle", i, err)
				}
			}
			if n := s.requests.Load(); n < 3 {
				t.Errorf("the server saw %d requests, want 3 or more", n)
			}
		})
	}
}

// TestClient_IdleResumes: a connection that goes quiet without a word (its
// path died: the server's writes vanish) is given up after IdleTimeout,
// and the client resumes from the last message it received: what was
// published into the void arrives, once, in order.
func TestClient_IdleResumes(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(map[bool]string{false: "websocket", true: "sse"}[sse], func(t *testing.T) {
			t.Parallel()
			s := newServer(t, storeOptions()) // no pings, no heartbeats
			u := s.wsURL("room")
			if sse {
				u = s.sseURL("room")
			}
			o := &client.Options{IdleTimeout: 200 * time.Millisecond}
			ev := hook(o)
			r := startReader(t, dial(t, u, o))
			s.subscriber()
			s.publish("room", 1, 3)
			checkSequence(t, r.numbers(3), 1, 3)
			s.ln.hush()
			s.publish("room", 4, 6) // lost on the way
			if err := ev.retried(t); !errors.Is(err, client.ErrIdle) {
				t.Fatalf("the client retried after %v, want ErrIdle", err)
			}
			checkSequence(t, r.numbers(3), 4, 6)
			s.publish("room", 7, 7)
			checkSequence(t, r.numbers(1), 7, 7)
		})
	}
}

// TestClient_IdleKeepalive: a Hub's pings and a Broker's heartbeats are
// signs of life: a stream that carries nothing else stays up for many
// IdleTimeouts. The keepalive is 200 ms, not less: the Hub resets a
// peer whose pong is not back by the next ping, and on a loaded machine a
// pong 50 ms late was seen (a reset the test took for a reconnection).
func TestClient_IdleKeepalive(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(map[bool]string{false: "websocket", true: "sse"}[sse], func(t *testing.T) {
			t.Parallel()
			const every = 200 * time.Millisecond
			opts := storeOptions()
			opts.PingInterval = every
			s := newServer(t, opts)
			u := s.wsURL("room")
			beats := &s.ln.pings
			if sse {
				u = s.sseURL("room")
				s.heartbeat = every
				_ = s.install(opts).Close()
				beats = &s.ln.comments
			}
			o := &client.Options{IdleTimeout: 6 * every}
			ev := hook(o)
			startReader(t, dial(t, u, o))
			ev.connected(t)
			for deadline := time.Now().Add(patience); beats.Load() < 18; time.Sleep(every) {
				if time.Now().After(deadline) {
					t.Fatalf("the server sent %d keepalives", beats.Load())
				}
			}
			if len(ev.retries) != 0 {
				t.Errorf("the client reconnected after %v", <-ev.retries)
			}
		})
	}
}
