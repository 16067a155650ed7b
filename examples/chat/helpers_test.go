package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// chat is the demo served on a loopback listener.
type chat struct {
	t      *testing.T
	base   string // http://127.0.0.1:port
	ctx    context.Context
	stop   context.CancelFunc
	served chan error
	once   sync.Once
}

// startChat serves the demo until the test ends (or shutdown is called).
func startChat(t *testing.T) *chat { return startChatWith(t, config{}) }

// startChatWith serves the demo as cfg says (its flags).
func startChatWith(t *testing.T, cfg config) *chat {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &chat{t: t, base: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	var sctx context.Context
	sctx, c.stop = context.WithCancel(context.Background())
	go func() { c.served <- serve(sctx, ln, cfg) }()
	t.Cleanup(c.shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c.ctx = ctx
	return c
}

// shutdown cancels serve's context and checks that it returned cleanly.
func (c *chat) shutdown() {
	c.once.Do(func() {
		c.stop()
		if err := <-c.served; err != nil {
			c.t.Errorf("serve: %v", err)
		}
	})
}

// post POSTs to path and decodes the JSON answer.
func (c *chat) post(path string) map[string]any {
	c.t.Helper()
	resp, err := http.Post(c.base+path, "", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("POST %s: %s %s", path, resp.Status, b)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		c.t.Fatal(err)
	}
	return v
}

func (c *chat) dial(path string, opts *websocket.DialOptions) *websocket.Conn {
	c.t.Helper()
	conn, _, err := websocket.Dial(c.ctx, "ws"+strings.TrimPrefix(c.base, "http")+path, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// dialResume opens a WebSocket in the resume subprotocol.
func (c *chat) dialResume(path string) *websocket.Conn {
	c.t.Helper()
	conn := c.dial(path, &websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
	if conn.Subprotocol() != fanout.ResumeSubprotocol {
		c.t.Fatalf("resume not negotiated: %q", conn.Subprotocol())
	}
	return conn
}

// msg is a message as a client received it.
type msg struct{ id, data string }

func datas(ms []msg) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.data)
	}
	return s
}

// burst is what POST /burst publishes: burst #k, messages from..to of n.
func burst(k, from, to, n int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("burst #%d: message %d of %d", k, i, n))
	}
	return s
}

// readResume reads n messages from a resume client; a resync record fails
// the test.
func (c *chat) readResume(conn *websocket.Conn, n int) []msg {
	c.t.Helper()
	var got []msg
	for len(got) < n {
		_, frame, err := conn.Read(c.ctx)
		if err != nil {
			c.t.Fatalf("resume client, after %d messages: %v", len(got), err)
		}
		err = fanout.UnpackRecords(frame, func(r fanout.Record) error {
			if r.Resync {
				return fmt.Errorf("unexpected resync: %s", r.Data)
			}
			if r.Position { // a new stream's first record
				return nil
			}
			got = append(got, msg{r.ID, string(r.Data)})
			return nil
		})
		if err != nil {
			c.t.Fatal(err)
		}
	}
	return got
}

// stream opens an SSE stream with go-sse's parser; headers arrive once the
// client is subscribed, so it is when stream returns.
func (c *chat) stream(path string) (next func() (sse.Event, error, bool), stop func()) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		c.t.Fatalf("GET %s: %s, %s", path, resp.Status, ct)
	}
	next, stopPull := iter.Pull2(sse.Read(resp.Body, nil))
	return next, func() { stopPull(); resp.Body.Close() }
}

func readSSE(t *testing.T, next func() (sse.Event, error, bool), n int) []msg {
	t.Helper()
	var got []msg
	for len(got) < n {
		ev, err, ok := next()
		if err != nil || !ok {
			t.Fatalf("SSE stream ended after %d messages: %v", len(got), err)
		}
		if ev.Type == fanout.PositionEvent {
			continue // a new stream's position
		}
		if ev.Type != "" {
			t.Fatalf("unexpected %q event: %q", ev.Type, ev.Data)
		}
		got = append(got, msg{ev.LastEventID, ev.Data})
	}
	return got
}

// stats polls /stats until cond holds (the server counts a delivery once
// its write returns, which can be after the client has read it) or a
// deadline passes, and returns the last snapshot.
func (c *chat) stats(cond func(fanout.Stats) bool) fanout.Stats {
	c.t.Helper()
	var st fanout.Stats
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(c.base + "/stats")
		if err != nil {
			c.t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			c.t.Fatal(err)
		}
		if cond(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
