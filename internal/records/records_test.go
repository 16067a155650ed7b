package records_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fanout-go/fanout/internal/records"
)

var errBad = errors.New("bad")

// rec appends a record of kind carrying p.
func rec(b []byte, kind byte, p string) []byte {
	var h [records.HeaderLen]byte
	records.PutHeader(&h, kind, len(p))
	return append(append(b, h[:]...), p...)
}

func decodeAll(frame []byte) ([]records.Record, error) {
	var out []records.Record
	d := records.NewDecoder(frame, errBad)
	for {
		r, ok, err := d.Next()
		if !ok {
			return out, err
		}
		out = append(out, r)
	}
}

func TestDecoder_Records(t *testing.T) {
	var f []byte
	f = rec(f, records.KindPosition, "p1")
	f = rec(f, records.KindID, "7")
	f = rec(f, records.KindEvent, "ev")
	f = rec(f, records.KindTopic, "tp")
	f = rec(f, records.KindText, "hello")
	f = rec(f, records.KindBinary, "\x00\x01")
	f = rec(f, records.KindResync, "lost")
	got, err := decodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []records.Record{
		{ID: "p1", Position: true},
		{ID: "7", Event: "ev", Topic: "tp", Data: []byte("hello")},
		{Binary: true, Data: []byte{0, 1}},
		{Resync: true, Data: []byte("lost")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Binary != w.Binary || g.ID != w.ID || g.Event != w.Event || g.Topic != w.Topic ||
			!bytes.Equal(g.Data, w.Data) || g.Resync != w.Resync || g.Position != w.Position {
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestDecoder_Malformed(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		frame      []byte
		before     int // records returned before the error
	}{
		{"truncated header", "truncated record header at offset 10", append(rec(nil, records.KindText, "hello"), 1, 0), 1},
		{"overrun", "record of 9 bytes overruns frame at offset 0", []byte{1, 0, 0, 0, 9, 'x'}, 0},
		{"unknown kind", "unknown record kind 8 at offset 0", rec(nil, 8, "x"), 0},
		{"empty ID", "empty ID record at offset 0", rec(rec(nil, records.KindID, ""), records.KindText, "x"), 0},
		{"repeated ID", "ID record repeated or out of order at offset 6", rec(rec(nil, records.KindID, "1"), records.KindID, "2"), 0},
		{"out of order", "ID record repeated or out of order at offset 6", rec(rec(nil, records.KindTopic, "t"), records.KindID, "2"), 0},
		{"ID before resync", "ID record before a resync record at offset 6", rec(rec(nil, records.KindID, "1"), records.KindResync, "r"), 0},
		{"empty position", "empty position record at offset 0", rec(nil, records.KindPosition, ""), 0},
		{"topic ends", "topic record ends the frame", rec(rec(nil, records.KindText, "x"), records.KindTopic, "t"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(tc.frame)
			if !errors.Is(err, errBad) || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one wrapping %v ending %q", err, errBad, tc.want)
			}
			if len(got) != tc.before {
				t.Fatalf("%d records before the error, want %d", len(got), tc.before)
			}
		})
	}
}

// FuzzDecoder checks that any payload decodes without panicking, every
// error wraps the given sentinel, and each record's data lies inside the
// payload; and that a payload re-encoded from what decoded decodes alike.
func FuzzDecoder(f *testing.F) {
	f.Add(rec(rec(rec(nil, records.KindID, "1"), records.KindText, "hi"), records.KindResync, ""))
	f.Add([]byte{7, 0, 0, 0, 1, 't', 1, 0, 0, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, err := decodeAll(frame)
		if err != nil && !errors.Is(err, errBad) {
			t.Fatalf("error %v does not wrap the sentinel", err)
		}
		var enc []byte
		for _, r := range got {
			switch {
			case r.Position:
				enc = rec(enc, records.KindPosition, r.ID)
				continue
			case r.Resync:
				enc = rec(enc, records.KindResync, string(r.Data))
				continue
			}
			for _, m := range []struct {
				kind byte
				s    string
			}{{records.KindID, r.ID}, {records.KindEvent, r.Event}, {records.KindTopic, r.Topic}} {
				if m.s != "" {
					enc = rec(enc, m.kind, m.s)
				}
			}
			kind := byte(records.KindText)
			if r.Binary {
				kind = records.KindBinary
			}
			enc = rec(enc, kind, string(r.Data))
		}
		if err == nil && !bytes.Equal(enc, frame) {
			t.Fatalf("re-encoded %x, decoded from %x", enc, frame)
		}
		again, err := decodeAll(enc)
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encoded payload: %d records, %v; want %d", len(again), err, len(got))
		}
	})
}
