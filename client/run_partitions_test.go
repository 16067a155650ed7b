package client_test

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// A server whose engine has several partitions (the Redis engine) orders
// each on its own: a subscriber whose topics map to several resumes from
// a composite ID, one position per partition joined by '.'
// (docs/protocol.md § 5). These tests play such a server's part, one
// scripted connection after another, and check the ID each reconnection
// carries.

// scripted serves the i-th request with script[i] and records the ID it
// resumed from; a request past the script is closed with endOfVector.
type scripted struct {
	t      *testing.T
	http   *httptest.Server
	script []func(w http.ResponseWriter, r *http.Request)

	mu      sync.Mutex
	resumed []string // each request's lastEventId (WebSocket) or Last-Event-ID (SSE)
}

func newScripted(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request)) *scripted {
	s := &scripted{t: t, script: script}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("lastEventId")
		if h := r.Header.Get("Last-Event-ID"); h != "" {
			id = h
		}
		s.mu.Lock()
		n := len(s.resumed)
		s.resumed = append(s.resumed, id)
		s.mu.Unlock()
		if n < len(s.script) {
			s.script[n](w, r)
			return
		}
		if r.Header.Get("Upgrade") == "" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: fanout.close\ndata: 4999 end of script\n\n")
			return
		}
		if c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{fanout.ResumeSubprotocolV2}}); err == nil {
			_ = c.Close(endOfVector, "end of script")
		}
	}))
	t.Cleanup(s.http.Close)
	return s
}

func (s *scripted) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.resumed...)
}

// rec is one packed record.
type rec struct {
	kind byte
	data string
}

func packed(rs ...rec) []byte {
	var b []byte
	for _, r := range rs {
		b = append(b, r.kind)
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.data)))
		b = append(b, r.data...)
	}
	return b
}

func idRec(id string) rec       { return rec{3, id} }
func text(s string) rec         { return rec{1, s} }
func resyncRec(why string) rec  { return rec{4, why} }
func positionRec(id string) rec { return rec{5, id} }

// frames answers a WebSocket on fanout.resume.v2 with frames, then goes
// away (1001): the client reconnects.
func frames(t *testing.T, fs ...[]byte) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{fanout.ResumeSubprotocolV2}})
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		for _, f := range fs {
			if err := c.Write(r.Context(), websocket.MessageBinary, f); err != nil {
				return
			}
		}
		_ = c.Close(websocket.StatusGoingAway, "")
	}
}

// TestClient_ResumesEachPartition: over WebSocket, a message carries its
// own partition's position only; the client keeps the last of each
// partition and resumes from their composite. A position replaces the
// whole cursor; a resync keeps it until the position that follows; an ID
// that is not a position is sent back as it came.
func TestClient_ResumesEachPartition(t *testing.T) {
	s := newScripted(t,
		frames(t, packed(positionRec("e-5.e:3-7"), idRec("e:3-8"), text("a"), idRec("e-6"), text("b"), idRec("e:3-9"), text("c"))),
		frames(t, packed(idRec("e:2-1"), text("d"))),       // a partition it did not have: inserted in order
		frames(t, packed(resyncRec(client.ResyncUnknown))), // the cursor stays
		frames(t, packed(resyncRec(client.ResyncUnknown), positionRec("f-0.f:3-2"), idRec("f:3-3"), text("e"))),
		frames(t, packed(idRec("opaque"), text("f"))),
	)
	c := dial(t, "ws"+strings.TrimPrefix(s.http.URL, "http")+"/ws?topic=a&topic=b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var got, ids, cursors []string
	for {
		m, err := c.Next(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != endOfVector {
				t.Fatalf("Next: %v", err)
			}
			break
		}
		if m.Resync {
			got = append(got, "resync")
		} else {
			got = append(got, string(m.Data))
		}
		ids = append(ids, m.ID)
		cursors = append(cursors, c.LastEventID())
	}
	if want := "a b c d resync resync e f"; strings.Join(got, " ") != want {
		t.Errorf("Next returned %q, want %q", strings.Join(got, " "), want)
	}
	if want := "e:3-8 e-6 e:3-9 e:2-1   f:3-3 opaque"; strings.Join(ids, " ") != want {
		t.Errorf("message IDs %q, want %q: each its own partition's", strings.Join(ids, " "), want)
	}
	wantCursors := []string{"e-5.e:3-8", "e-6.e:3-8", "e-6.e:3-9", "e-6.e:2-1.e:3-9", "e-6.e:2-1.e:3-9", "e-6.e:2-1.e:3-9", "f-0.f:3-3", "opaque"}
	if strings.Join(cursors, " ") != strings.Join(wantCursors, " ") {
		t.Errorf("LastEventID after each\n%q\nwant\n%q", cursors, wantCursors)
	}
	wantResumed := []string{"", "e-6.e:3-9", "e-6.e:2-1.e:3-9", "e-6.e:2-1.e:3-9", "f-0.f:3-3", "opaque"}
	if got := s.ids(); strings.Join(got, " ") != strings.Join(wantResumed, " ") {
		t.Errorf("each connection resumed from\n%q\nwant\n%q", got, wantResumed)
	}
}

// TestClient_ResumesCompositeFromOptions: Options.LastEventID may be a
// composite (what LastEventID returned), and a message of one partition
// moves only that partition's position in it.
func TestClient_ResumesCompositeFromOptions(t *testing.T) {
	s := newScripted(t, frames(t, packed(idRec("e:3-8"), text("a"))))
	c := dial(t, "ws"+strings.TrimPrefix(s.http.URL, "http")+"/ws?topic=a", &client.Options{LastEventID: "e-5.e:3-7"})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if m, err := c.Next(ctx); err != nil || string(m.Data) != "a" {
		t.Fatalf("Next: %q, %v", m.Data, err)
	}
	if _, err := c.Next(ctx); websocket.CloseStatus(err) != endOfVector {
		t.Fatalf("Next: %v, want the end of the script", err)
	}
	if got, want := strings.Join(s.ids(), " "), "e-5.e:3-7 e-5.e:3-8"; got != want {
		t.Errorf("resumed from %q, want %q", got, want)
	}
}

// TestClient_SSEKeepsTheLastID: over SSE, a Broker writes the whole
// cursor (a composite, for topics in several partitions) in every id
// field, so the client resumes from the last one as it came, as an
// EventSource does.
func TestClient_SSEKeepsTheLastID(t *testing.T) {
	stream := func(body string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, body)
		}
	}
	s := newScripted(t,
		stream("id: e-5.e:3-7\nevent: fanout.position\ndata: e-5.e:3-7\n\nid: e-5.e:3-8\ndata: a\n\n"),
		stream("id: e-6.e:3-8\ndata: b\n\n"),
	)
	c := dial(t, s.http.URL+"/events?topic=a&topic=b", nil)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var ids []string
	for {
		m, err := c.Next(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != endOfVector {
				t.Fatalf("Next: %v", err)
			}
			break
		}
		ids = append(ids, m.ID)
	}
	if got, want := strings.Join(ids, " "), "e-5.e:3-8 e-6.e:3-8"; got != want {
		t.Errorf("message IDs %q, want %q", got, want)
	}
	if got, want := strings.Join(s.ids(), " "), " e-5.e:3-8 e-6.e:3-8"; got != want {
		t.Errorf("resumed from %q, want %q", got, want)
	}
	if got := c.LastEventID(); got != "e-6.e:3-8" {
		t.Errorf("LastEventID %q", got)
	}
}
