package client_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// The test vectors of docs/protocol.md (../testdata/protocol), through the
// client's real decoding path: a server that completes the handshake with
// the vector's subprotocol (or answers with an event stream) and writes
// the vector's frame (or stream), then a close with 4999; Next returns
// the vector's messages and resyncs, LastEventID its last ID (a position
// is not returned), and then the close, or ErrProtocol for a malformed
// frame (after the records before the damage).

type vectorRecord struct {
	Kind   string `json:"kind"`
	Type   string `json:"type"`
	Data   string `json:"data"`
	ID     string `json:"id"`
	Event  string `json:"event"`
	Topic  string `json:"topic"`
	Reason string `json:"reason"`
	Code   int    `json:"code"`
}

func readVectors(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("../testdata/protocol/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// expect returns the messages Next returns for records and the ID
// LastEventID ends with. b64 says whether message data is base64
// (records.json's, a WebSocket's frames: there a message's ID moves only
// its own partition's position of a composite; an SSE event's replaces
// it, as a position does).
func expect(t *testing.T, records []vectorRecord, b64 bool) (want []string, lastID string) {
	t.Helper()
	for _, r := range records {
		switch r.Kind {
		case "position":
			lastID = r.ID
			continue
		case "resync":
			want = append(want, show(client.Message{Resync: true, Data: []byte(r.Reason)}))
			continue
		case "close":
			continue
		}
		data := []byte(r.Data)
		if b64 {
			var err error
			if data, err = base64.StdEncoding.DecodeString(r.Data); err != nil {
				t.Fatal(err)
			}
		}
		m := client.Message{ID: r.ID, Event: r.Event, Topic: r.Topic, Data: data}
		if r.Type == "binary" {
			m.Type = fanout.Binary
		}
		switch {
		case r.ID == "":
		case b64:
			lastID = cursorAfterMessage(lastID, r.ID)
		default:
			lastID = r.ID
		}
		want = append(want, show(m))
	}
	return want, lastID
}

func show(m client.Message) string {
	return fmt.Sprintf("{%v id=%q event=%q topic=%q data=%q resync=%v}", m.Type, m.ID, m.Event, m.Topic, m.Data, m.Resync)
}

// readAll returns what Next returns until it fails, and its error.
func readAll(t *testing.T, c *client.Client) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var got []string
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, show(m))
	}
}

// endOfVector is the close status after each vector: one that stops the
// client (see retryable).
const endOfVector = 4999

func TestProtocolVectors_WebSocket(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name        string         `json:"name"`
			Subprotocol string         `json:"subprotocol"`
			Frame       string         `json:"frame"`
			Records     []vectorRecord `json:"records"`
			Error       any            `json:"error"`
		} `json:"vectors"`
	}
	readVectors(t, "records.json", &file)
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			frame, err := hex.DecodeString(v.Frame)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{v.Subprotocol}})
				if err != nil {
					return
				}
				defer c.CloseNow()
				if c.Subprotocol() != v.Subprotocol {
					t.Errorf("the client did not offer %s", v.Subprotocol)
					return
				}
				if c.Write(r.Context(), websocket.MessageBinary, frame) == nil {
					_ = c.Close(endOfVector, "end of vector")
				}
			}))
			defer srv.Close()
			mode := client.ModeResume
			if strings.HasPrefix(v.Subprotocol, "fanout.packed.") {
				mode = client.ModePacked
			}
			c, err := client.New("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=t", &client.Options{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want, lastID := expect(t, v.Records, true)
			got, err := readAll(t, c)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("Next returned\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if v.Error != nil {
				if !errors.Is(err, client.ErrProtocol) || !errors.Is(err, fanout.ErrBadPacked) {
					t.Errorf("Next: %v, want ErrProtocol (ErrBadPacked)", err)
				}
			} else if websocket.CloseStatus(err) != endOfVector {
				t.Errorf("Next: %v, want the close (%d)", err, endOfVector)
			}
			if id := c.LastEventID(); id != lastID {
				t.Errorf("LastEventID %q, want %q", id, lastID)
			}
		})
	}
}

func TestProtocolVectors_SSE(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name   string         `json:"name"`
			Stream string         `json:"stream"`
			Events []vectorRecord `json:"events"`
		} `json:"vectors"`
	}
	readVectors(t, "sse.json", &file)
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			end := vectorRecord{Kind: "close", Code: endOfVector, Reason: "end of vector"}
			stream := v.Stream
			if n := len(v.Events); n > 0 && v.Events[n-1].Kind == "close" {
				end = v.Events[n-1]
			} else {
				stream += fmt.Sprintf("event: %s\ndata: %d %s\n\n", fanout.CloseEvent, end.Code, end.Reason)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, stream)
			}))
			defer srv.Close()
			c, err := client.New(srv.URL+"/events?topic=t", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want, lastID := expect(t, v.Events, false)
			got, err := readAll(t, c)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("Next returned\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || int(ce.Code) != end.Code || ce.Reason != end.Reason {
				t.Errorf("Next: %v, want the close %d %q", err, end.Code, end.Reason)
			}
			if id := c.LastEventID(); id != lastID {
				t.Errorf("LastEventID %q, want %q", id, lastID)
			}
		})
	}
}

// cursorAfterMessage returns what a WebSocket client resumes from after a
// message with ID id, when it resumed from cursor: each position of id
// (fanout.Cursor.With) in cursor, when both are made of positions; id
// otherwise (an opaque ID is kept as it came). It is the client's rule
// (client/cursor.go), written with the server's Cursor.
func cursorAfterMessage(cursor, id string) string {
	cur, err := fanout.ParseCursor(cursor)
	ps, err2 := fanout.ParseCursor(id)
	if err != nil || err2 != nil {
		return id
	}
	for _, p := range ps {
		cur = cur.With(p)
	}
	return cur.String()
}
