package sse_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fanout-go/fanout/internal/sse"
	gosse "github.com/tmaxmax/go-sse"
)

// readAll parses stream with go-sse's reader, the one the project's
// clients use.
func readAll(t *testing.T, stream []byte) []gosse.Event {
	t.Helper()
	var evs []gosse.Event
	for ev, err := range gosse.Read(bytes.NewReader(stream), &gosse.ReadConfig{MaxEventSize: 1 << 20}) {
		if err != nil {
			t.Fatalf("reading %q: %v", stream, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// lf is data as a client receives it: every line break an LF.
func lf(data string) string {
	return strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
}

func TestEvent(t *testing.T) {
	for _, tc := range []struct{ name, id, typ, data, want string }{
		{"data", "", "", "hello", "data: hello\n\n"},
		{"all fields", "7", "ev", "a\nb", "id: 7\nevent: ev\ndata: a\ndata: b\n\n"},
		{"empty", "", "", "", "data: \n\n"},
		{"final line break", "", "", "a\n", "data: a\ndata: \n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev []byte
			if err := sse.AppendEvent(&ev, tc.id, tc.typ, tc.data); err != nil {
				t.Fatal(err)
			}
			if string(ev) != tc.want {
				t.Fatalf("%q, want %q", ev, tc.want)
			}
		})
	}
	for _, bad := range [][2]string{{"a\nb", ""}, {"", "a\rb"}} {
		if err := sse.AppendEvent(new([]byte), bad[0], bad[1], "x"); err == nil {
			t.Errorf("id %q, type %q: no error", bad[0], bad[1])
		}
	}
}

func TestCommentAndRetry(t *testing.T) {
	if got := string(sse.Comment("keepalive")); got != ": keepalive\n\n" {
		t.Errorf("comment %q", got)
	}
	if got := string(sse.Retry(1500 * time.Millisecond)); got != "retry: 1500\n\n" {
		t.Errorf("retry %q", got)
	}
}

// FuzzEvent checks that every event AppendEvent encodes reads back, with go-sse's
// reader, as one event carrying its ID, type and data (line breaks as LF),
// for the IDs and text fanout sends (UTF-8, no NUL in an ID).
func FuzzEvent(f *testing.F) {
	f.Add("1", "", "hello")
	f.Add("", "ev", "a\r\nb\rc\n")
	f.Add("x", "y", "")
	f.Fuzz(func(t *testing.T, id, typ, data string) {
		if strings.Contains(id, "\x00") || !utf8.ValidString(id+typ+data) {
			return // not sent: clients ignore such an ID, and decode the stream as UTF-8
		}
		ev := []byte("before")
		if err := sse.AppendEvent(&ev, id, typ, data); err != nil {
			return // an ID or type go-sse refuses
		}
		if string(ev[:6]) != "before" {
			t.Fatalf("AppendEvent overwrote what dst held: %q", ev)
		}
		ev = ev[6:]
		evs := readAll(t, ev)
		if len(evs) != 1 {
			t.Fatalf("%q reads as %d events", ev, len(evs))
		}
		got := evs[0]
		if got.LastEventID != id || got.Type != typ || got.Data != lf(data) {
			t.Fatalf("%q reads as %+v, want id %q type %q data %q", ev, got, id, typ, lf(data))
		}
	})
}
