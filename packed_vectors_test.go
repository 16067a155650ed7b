// docs/protocol.md's test vectors (testdata/) against the decoders and
// encoders: records (packed.go), IDs (position.go), SSE events (prepared.go).

package fanout_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// The test vectors of docs/protocol.md (testdata/protocol), which the Go
// client (client/) and the JavaScript client (js/test) are tested against
// too. Here: UnpackRecords and Unpack decode every packed frame as the
// vector says, ParseID reads every ID, and the server's own encoders write
// exactly the bytes of every vector marked as theirs.

// vectorRecord is a record of records.json (and an event of sse.json).
type vectorRecord struct {
	Kind   string `json:"kind"` // message, resync, position (SSE: close, retry, heartbeat too)
	Type   string `json:"type"` // text or binary
	Data   string `json:"data"` // base64 in records.json, text in sse.json's events
	ID     string `json:"id"`
	Event  string `json:"event"`
	Topic  string `json:"topic"`
	Reason string `json:"reason"`
	Code   int    `json:"code"`
	MS     int    `json:"ms"`
}

type recordVector struct {
	Name        string         `json:"name"`
	Subprotocol string         `json:"subprotocol"`
	Frame       string         `json:"frame"`
	Encoder     bool           `json:"encoder"`
	Records     []vectorRecord `json:"records"`
	Sent        []vectorRecord `json:"sent"`
	Error       *struct {
		Offset *int `json:"offset"`
	} `json:"error"`
}

func readVectors(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/protocol/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// fromRecord returns what UnpackRecords yields for a vector's record.
func fromRecord(t *testing.T, r vectorRecord) fanout.Record {
	t.Helper()
	switch r.Kind {
	case "resync":
		return fanout.Record{Resync: true, Data: []byte(r.Reason)}
	case "position":
		return fanout.Record{Position: true, ID: r.ID}
	case "message":
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			t.Fatalf("data %q: %v", r.Data, err)
		}
		rec := fanout.Record{ID: r.ID, Event: r.Event, Topic: r.Topic, Data: data}
		if r.Type == "binary" {
			rec.Type = fanout.Binary
		}
		return rec
	}
	t.Fatalf("record of kind %q", r.Kind)
	return fanout.Record{}
}

func showRecord(r fanout.Record) string {
	return fmt.Sprintf("{%v id=%q event=%q topic=%q data=%q resync=%v position=%v}", r.Type, r.ID, r.Event, r.Topic, r.Data, r.Resync, r.Position)
}

func TestProtocolVectors_Records(t *testing.T) {
	var file struct{ Vectors []recordVector }
	readVectors(t, "records.json", &file)
	kinds := map[byte]bool{} // of the valid vectors' records
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			frame, err := hex.DecodeString(v.Frame)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; v.Error == nil && i+5 <= len(frame); i += 5 + int(binary.BigEndian.Uint32(frame[i+1:])) {
				kinds[frame[i]] = true
			}
			var want []string
			plain := true // text and binary records only: Unpack reads it too
			for _, r := range v.Records {
				rec := fromRecord(t, r)
				want = append(want, showRecord(rec))
				plain = plain && r.Kind == "message" && r.ID == "" && r.Event == "" && r.Topic == ""
			}
			var got []string
			err = fanout.UnpackRecords(frame, func(r fanout.Record) error {
				got = append(got, showRecord(r))
				return nil
			})
			if !slices.Equal(got, want) {
				t.Errorf("UnpackRecords yielded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			switch {
			case v.Error == nil && err != nil:
				t.Errorf("UnpackRecords: %v", err)
			case v.Error != nil && !errors.Is(err, fanout.ErrBadPacked):
				t.Errorf("UnpackRecords: %v, want ErrBadPacked", err)
			case v.Error != nil && v.Error.Offset != nil && !strings.HasSuffix(err.Error(), fmt.Sprintf("offset %d", *v.Error.Offset)):
				t.Errorf("UnpackRecords: %v, want the damage at offset %d", err, *v.Error.Offset)
			case v.Error != nil && v.Error.Offset == nil && !strings.HasSuffix(err.Error(), "ends the frame"):
				t.Errorf("UnpackRecords: %v, want a frame that ends inside a message's records", err)
			}

			n := 0
			err = fanout.Unpack(frame, func(typ fanout.MessageType, data []byte) error {
				n++
				return nil
			})
			if plain && v.Error == nil && (err != nil || n != len(v.Records)) {
				t.Errorf("Unpack: %v after %d messages, want %d", err, n, len(v.Records))
			}
			if (!plain || v.Error != nil) && !errors.Is(err, fanout.ErrBadPacked) {
				t.Errorf("Unpack: %v, want ErrBadPacked", err)
			}

			if v.Encoder {
				sent := v.Sent
				if sent == nil {
					sent = v.Records
				}
				var batch []*fanout.Message
				for _, r := range sent {
					batch = append(batch, vectorMessage(t, r))
				}
				f := fanout.WSFraming(v.Subprotocol, true)
				if f == 0 {
					t.Fatalf("subprotocol %q has no packed framing", v.Subprotocol)
				}
				if f != fanout.WSFraming(strings.ToUpper(v.Subprotocol), true) {
					t.Errorf("subprotocol %q: its framing depends on letter case", v.Subprotocol)
				}
				enc := fanout.AppendRecords(nil, batch, f)
				if !bytes.Equal(enc, frame) {
					t.Errorf("the Hub writes\n%x\nwant\n%x", enc, frame)
				}
				if l := fanout.PackedLen(batch, f); l != len(frame) {
					t.Errorf("PackedLen %d, want %d", l, len(frame))
				}
			}
		})
	}
	for k := range 256 {
		if want := k >= 1 && k <= 7; kinds[byte(k)] != want {
			t.Errorf("a valid vector of record kind %d: %v, want %v", k, kinds[byte(k)], want)
		}
	}
}

// vectorMessage returns the Message the Hub writes as r: a published
// message (stored, when its ID is a position), a resync signal or a
// position.
func vectorMessage(t *testing.T, r vectorRecord) *fanout.Message {
	t.Helper()
	switch r.Kind {
	case "resync":
		for _, reason := range []fanout.ResyncReason{fanout.ResyncUnknown, fanout.ResyncUnavailable, fanout.ResyncLost} {
			if reason.String() == r.Reason {
				return fanout.ResyncSignal(reason)
			}
		}
		t.Fatalf("resync reason %q", r.Reason)
	case "position":
		c, err := fanout.ParseCursor(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return fanout.PositionMessage(c)
	}
	data, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	m := fanout.NewMessage(data)
	if r.Type == "binary" {
		m = fanout.NewBinaryMessage(data)
	}
	if r.Event != "" {
		m = m.WithEvent(r.Event)
	}
	if p, err := fanout.ParseID(r.ID); err == nil {
		return m.Stored(r.Topic, p)
	}
	if r.ID != "" {
		m = m.WithID(r.ID)
	}
	if r.Topic != "" {
		m = m.OnTopic(r.Topic)
	}
	return m
}

func TestProtocolVectors_IDs(t *testing.T) {
	var file struct {
		Valid []struct {
			ID        string `json:"id"`
			Epoch     string `json:"epoch"`
			Partition int    `json:"partition"`
			Offset    string `json:"offset"`
		} `json:"valid"`
		Invalid []struct {
			ID  string `json:"id"`
			Why string `json:"why"`
		} `json:"invalid"`
		Composites struct {
			Valid []struct {
				ID        string   `json:"id"`
				Positions []string `json:"positions"`
			} `json:"valid"`
			Invalid []struct {
				ID  string `json:"id"`
				Why string `json:"why"`
			} `json:"invalid"`
		} `json:"composites"`
	}
	readVectors(t, "ids.json", &file)
	for _, v := range file.Composites.Valid {
		c, err := fanout.ParseCursor(v.ID)
		if err != nil || len(c) != len(v.Positions) {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", v.ID, c, err, v.Positions)
			continue
		}
		for i, id := range v.Positions {
			if c[i].ID() != id {
				t.Errorf("ParseCursor(%q)[%d] = %q, want %q", v.ID, i, c[i].ID(), id)
			}
		}
		if c.String() != v.ID {
			t.Errorf("%v.String() = %q, want %q", v.Positions, c.String(), v.ID)
		}
	}
	if len(file.Composites.Valid) == 0 || len(file.Composites.Invalid) == 0 {
		t.Error("no composite vectors")
	}
	for _, v := range file.Composites.Invalid {
		if c, err := fanout.ParseCursor(v.ID); !errors.Is(err, fanout.ErrUnknownID) {
			t.Errorf("ParseCursor(%q) (%s) = %v, %v; want ErrUnknownID", v.ID, v.Why, c, err)
		}
	}
	longest := 0
	for _, v := range file.Valid {
		off, err := strconv.ParseUint(v.Offset, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		want := fanout.Position{Epoch: v.Epoch, Partition: v.Partition, Offset: off}
		if p, err := fanout.ParseID(v.ID); err != nil || p != want {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", v.ID, p, err, want)
		}
		if id := want.ID(); id != v.ID {
			t.Errorf("%+v.ID() = %q, want %q", want, id, v.ID)
		}
		longest = max(longest, len(v.ID))
	}
	if longest != 58 {
		t.Errorf("the longest valid ID has %d bytes, want the longest there is, 58", longest)
	}
	for _, v := range file.Invalid {
		if p, err := fanout.ParseID(v.ID); !errors.Is(err, fanout.ErrUnknownID) {
			t.Errorf("ParseID(%q) (%s) = %+v, %v; want ErrUnknownID", v.ID, v.Why, p, err)
		}
	}
}

// TestProtocolVectors_SSE checks that the Broker's encoders write exactly
// the pieces of every SSE vector marked as theirs (the decoders are the
// clients': see client/ and js/test).
func TestProtocolVectors_SSE(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name    string `json:"name"`
			Stream  string `json:"stream"`
			Encodes []struct {
				Wire string       `json:"wire"`
				Of   vectorRecord `json:"of"`
			} `json:"encodes"`
		} `json:"vectors"`
	}
	readVectors(t, "sse.json", &file)
	for _, v := range file.Vectors {
		if v.Encodes == nil {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			var stream strings.Builder
			for _, e := range v.Encodes {
				stream.WriteString(e.Wire)
				var got []byte
				switch e.Of.Kind {
				case "retry":
					got = fanout.SSERetry(time.Duration(e.Of.MS) * time.Millisecond)
				case "heartbeat":
					got = fanout.SSEHeartbeat
				case "close":
					got = fanout.SSEClose(fanout.StatusCode(e.Of.Code), e.Of.Reason)
				default:
					var err error
					if got, err = vectorMessage(t, e.Of).SSEEvent(); err != nil {
						t.Fatal(err)
					}
				}
				if string(got) != e.Wire {
					t.Errorf("%s: the Broker writes %q, want %q", e.Of.Kind, got, e.Wire)
				}
			}
			if stream.String() != v.Stream {
				t.Errorf("the pieces make %q, not the stream %q", stream.String(), v.Stream)
			}
		})
	}
}
