package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// fakeHub serves WebSocket connections with serve, selecting the resume
// subprotocol when offered: a server that says exactly what a test wants.
func fakeHub(t *testing.T, serve func(ctx context.Context, c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols: []string{fanout.ResumeSubprotocolV2},
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		serve(r.Context(), c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// record is one record of a packed frame.
func record(kind byte, payload string) []byte {
	b := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// TestClient_CloseStatuses: the close statuses that make the client
// reconnect (a normal closure, or the server's trouble: 1000, 1001, 1005,
// 1011, 1012, 1013, 1014) and those that stop it (anything else: it was
// told to go, or did wrong), from a server that closes each connection at
// once.
func TestClient_CloseStatuses(t *testing.T) {
	retry := map[websocket.StatusCode]bool{1000: true, 1001: true, 1005: true, 1011: true, 1012: true, 1013: true, 1014: true}
	for _, code := range []websocket.StatusCode{1000, 1001, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999} {
		t.Run(fmt.Sprint(int(code)), func(t *testing.T) {
			t.Parallel()
			u := fakeHub(t, func(ctx context.Context, c *websocket.Conn) {
				_ = c.Close(code, "bye")
			})
			w := newWaits(0)
			retried := make(chan error, 1)
			c, err := client.NewWithWait(u, &client.Options{OnRetry: func(err error, _ time.Duration) { retried <- err }}, w.wait)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if retry[code] {
				w.next(t)
				if err := <-retried; websocket.CloseStatus(err) != code {
					t.Errorf("retried after %v, want status %d", err, code)
				}
				return
			}
			_, err = c.Next(context.Background())
			if websocket.CloseStatus(err) != code {
				t.Errorf("Next: %v, want status %d", err, code)
			}
			if len(w.delays) != 0 {
				t.Errorf("the client waited to retry after %d", code)
			}
		})
	}
}

// TestClient_ProtocolErrors: a server that does not speak fanout's
// protocols stops the client with ErrProtocol (after every message it
// could read), since trying again would fail the same way; one that is no
// WebSocket server refuses with its status.
func TestClient_ProtocolErrors(t *testing.T) {
	frame := func(records ...[]byte) func(context.Context, *websocket.Conn) {
		return func(ctx context.Context, c *websocket.Conn) {
			_ = c.Write(ctx, websocket.MessageBinary, bytes.Join(records, nil))
			_, _, _ = c.Read(ctx) // until the client goes
		}
	}
	sse := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	cases := []struct {
		name   string
		url    func(t *testing.T) string
		before int // messages received before the error
		want   func(error) bool
	}{
		{"malformed frame", func(t *testing.T) string {
			return fakeHub(t, frame(record(1, "ok"), []byte{9, 0, 0}))
		}, 1, isProtocol},
		{"unknown record", func(t *testing.T) string {
			return fakeHub(t, frame(record(1, "ok"), record(42, "?")))
		}, 1, isProtocol},
		{"ID record ending the frame", func(t *testing.T) string {
			return fakeHub(t, frame(record(3, "a-1")))
		}, 0, isProtocol},
		{"text frame", func(t *testing.T) string {
			return fakeHub(t, func(ctx context.Context, c *websocket.Conn) {
				_ = c.Write(ctx, websocket.MessageText, []byte("not records"))
				_, _, _ = c.Read(ctx)
			})
		}, 0, isProtocol},
		{"not a WebSocket server", func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "hello")
			}))
			t.Cleanup(srv.Close)
			return "ws" + strings.TrimPrefix(srv.URL, "http")
		}, 0, func(err error) bool {
			se, ok := errors.AsType[*client.StatusError](err)
			return ok && se.StatusCode == http.StatusOK
		}},
		{"not an event stream", func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "<html>hello</html>")
			}))
			t.Cleanup(srv.Close)
			return srv.URL
		}, 0, isProtocol},
		{"unreadable fanout.close", func(t *testing.T) string {
			return sse("data: ok\n\nevent: fanout.close\ndata: bye\n\n")
		}, 1, isProtocol},
		{"empty fanout.position", func(t *testing.T) string {
			return sse("event: fanout.position\ndata\n\n")
		}, 0, isProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := client.New(tc.url(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range tc.before {
				if m, err := c.Next(context.Background()); err != nil || string(m.Data) != "ok" {
					t.Fatalf("message %d: %+v, %v", i, m, err)
				}
			}
			if _, err := c.Next(context.Background()); !tc.want(err) {
				t.Errorf("Next: %v", err)
			}
		})
	}
}

func isProtocol(err error) bool { return errors.Is(err, client.ErrProtocol) }

// TestClient_ReadLimit: a message larger than ReadLimit stops the client
// with ErrTooLarge, on both transports: reconnecting would meet it again.
func TestClient_ReadLimit(t *testing.T) {
	for _, sse := range []bool{false, true} {
		s := newServer(t, storeOptions())
		u := s.wsURL("room")
		if sse {
			u = s.sseURL("room")
		}
		c := dial(t, u, &client.Options{ReadLimit: 1 << 10})
		s.subscriber()
		if err := s.current().Publish(context.Background(), "room", fanout.NewMessage([]byte(strings.Repeat("x", 2<<10)))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Next(context.Background()); !errors.Is(err, client.ErrTooLarge) {
			t.Errorf("sse %v: Next: %v, want ErrTooLarge", sse, err)
		}
	}
}

// TestClient_ResumeV1: from a Hub that selects fanout.resume.v1 (an older
// one), the client reads v1 frames (IDs, no event types or topics) and
// resumes as well: it reconnects with the last ID in ?lastEventId=.
func TestClient_ResumeV1(t *testing.T) {
	lastIDs := make(chan string, 2)
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastIDs <- r.URL.Query().Get("lastEventId")
		n := conns.Add(1)
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if n == 1 {
			f := bytes.Join([][]byte{record(5, "e-0"), record(3, "e-1"), record(1, "one")}, nil)
			_ = c.Write(r.Context(), websocket.MessageBinary, f)
			_ = c.Close(websocket.StatusGoingAway, "restarting")
			return
		}
		_ = c.Write(r.Context(), websocket.MessageBinary, bytes.Join([][]byte{record(3, "e-2"), record(1, "two")}, nil))
		_, _, _ = c.Read(r.Context())
	}))
	defer srv.Close()
	o := &client.Options{MinBackoff: time.Millisecond}
	ev := hook(o)
	c, err := client.New("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=room&lastEventId=stale", o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := ev.connected(t); p != fanout.ResumeSubprotocol {
		t.Errorf("subprotocol %q", p)
	}
	for _, want := range []client.Message{{ID: "e-1", Data: []byte("one")}, {ID: "e-2", Data: []byte("two")}} {
		m, err := c.Next(context.Background())
		if err != nil || !equal(m, want) {
			t.Fatalf("Next: %+v, %v; want %+v", m, err, want)
		}
	}
	if first, second := <-lastIDs, <-lastIDs; first != "" || second != "e-1" {
		t.Errorf("lastEventId %q, then %q; want none (the URL's is the client's to set), then e-1", first, second)
	}
}
