package bolt_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/wsrecords"
)

// waitTimeout bounds every wait for a record: only a failing test waits
// this long.
const waitTimeout = 60 * time.Second

// rec is one record as a client received it, from either transport.
type rec struct {
	id       string
	data     string
	resync   bool // SSE: a ResyncEvent; WebSocket: a resync record
	position bool // a new stream's position: an ID and no message
}

func (r rec) String() string {
	switch {
	case r.resync:
		return "resync(" + r.data + ")"
	case r.position:
		return "position(" + r.id + ")"
	}
	return r.id + ":" + r.data
}

// client is a subscriber on a real connection: WebSocket with
// fanout.ResumeSubprotocol (coder/websocket), or SSE read with go-sse's
// parser. Its reader stops by itself after limit records that are not
// positions (0: no limit), as a client that goes away after handling the
// limit-th message: what it received is exactly what it handled.
type client struct {
	name   string
	ws     bool
	topics []string

	ch     chan rec
	done   chan struct{}
	cancel context.CancelFunc

	mu  sync.Mutex
	got []rec // every record, positions included
	err error
}

// dial connects a client to base (an http:// URL serving /ws and /sse)
// for topics, resuming after lastID when it is set.
func dial(t testing.TB, name, base string, ws bool, topics []string, lastID string, limit int) *client {
	t.Helper()
	c := &client{name: name, ws: ws, topics: topics, ch: make(chan rec, 1<<16), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	q := url.Values{"topic": topics}
	var read func(emit func(rec) bool) error
	if ws {
		if lastID != "" {
			q.Set("lastEventId", lastID)
		}
		u := "ws" + strings.TrimPrefix(base, "http") + "/ws?" + q.Encode()
		conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
		if err != nil {
			cancel()
			t.Fatalf("%s: dial: %v", name, err)
		}
		conn.SetReadLimit(-1)
		read = func(emit func(rec) bool) error {
			defer conn.CloseNow()
			return readWS(ctx, conn, emit)
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sse?"+q.Encode(), nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			cancel()
			t.Fatalf("%s: SSE request: %v, %v", name, resp, err)
		}
		read = func(emit func(rec) bool) error {
			defer resp.Body.Close()
			for ev, err := range sse.Read(resp.Body, nil) {
				if err != nil {
					return err
				}
				if !emit(rec{id: ev.LastEventID, data: ev.Data, resync: ev.Type == fanout.ResyncEvent,
					position: ev.Type == fanout.PositionEvent}) {
					return nil
				}
			}
			return io.EOF
		}
	}
	go func() {
		defer close(c.done)
		defer close(c.ch)
		defer cancel()
		n := 0
		err := read(func(r rec) bool {
			c.mu.Lock()
			c.got = append(c.got, r)
			c.mu.Unlock()
			c.ch <- r
			if !r.position {
				n++
			}
			return limit == 0 || n < limit
		})
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}()
	t.Cleanup(c.close)
	return c
}

// readWS reads conn's packed frames until it fails or emit returns false.
func readWS(ctx context.Context, conn *websocket.Conn, emit func(rec) bool) error {
	return wsrecords.Read(ctx, conn, true, func(r fanout.Record) bool {
		return emit(rec{id: r.ID, data: string(r.Data), resync: r.Resync, position: r.Position})
	})
}

// close ends the client's connection and waits for its reader.
func (c *client) close() {
	c.cancel()
	<-c.done
}

// stopped waits until the client's reader has stopped (its limit, or the
// connection ended), and returns every record it received.
func (c *client) stopped(t testing.TB) []rec {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: still reading after %v", c.name, waitTimeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

// take returns the client's next n records that are not positions.
func (c *client) take(t testing.TB, n int) []rec {
	t.Helper()
	out := make([]rec, 0, n)
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case r, ok := <-c.ch:
			if !ok {
				c.mu.Lock()
				defer c.mu.Unlock()
				t.Fatalf("%s: connection ended after %d of %d records (%v): %v", c.name, len(out), n, c.err, out)
			}
			if !r.position {
				out = append(out, r)
			}
		case <-timer.C:
			t.Fatalf("%s: %d of %d records within %v: %v", c.name, len(out), n, waitTimeout, out)
		}
	}
	return out
}

// messages returns the records of rs that are messages (no position, no
// resync).
func messages(rs []rec) []rec {
	var out []rec
	for _, r := range rs {
		if !r.position && !r.resync {
			out = append(out, r)
		}
	}
	return out
}

// lastID returns the ID of the last message in rs.
func lastID(t testing.TB, rs []rec) string {
	t.Helper()
	ms := messages(rs)
	if len(ms) == 0 {
		t.Fatal("no message received")
	}
	return ms[len(ms)-1].id
}

// wants reports whether a client of topics receives a message published to
// topic ("" for a broadcast).
func wants(topics []string, topic string) bool {
	if topic == "" {
		return true
	}
	for _, t := range topics {
		if t == topic {
			return true
		}
	}
	return false
}

// toRecs returns ms as a client of topics receives them.
func toRecs(ms []*fanout.Message, topics []string) []rec {
	var out []rec
	for _, m := range ms {
		if wants(topics, m.Topic()) {
			out = append(out, rec{id: m.ID(), data: string(m.Data())})
		}
	}
	return out
}

// sameRecs fails t unless got and want are the same records in the same
// order, naming the first difference.
func sameRecs(t testing.TB, what string, got, want []rec) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d is %v, want %v (got %d records, want %d)", what, i, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d; first extra or missing: %v", what, len(got), len(want), diffTail(got, want))
	}
}

func diffTail(got, want []rec) string {
	n := min(len(got), len(want))
	if len(got) > n {
		return fmt.Sprint("extra ", got[n])
	}
	return fmt.Sprint("missing ", want[n])
}
