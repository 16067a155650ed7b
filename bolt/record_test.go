package bolt

import (
	"bytes"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// FuzzRecord: a record round-trips, and parsing any bytes as one fails
// cleanly rather than panicking or reading out of bounds.
func FuzzRecord(f *testing.F) {
	f.Add([]byte("a"), []byte("ev"), []byte("data"), true, []byte{})
	f.Add([]byte(""), []byte(""), []byte{0, 1, 2}, false, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1})
	f.Fuzz(func(t *testing.T, topic, event, data []byte, binary bool, junk []byte) {
		m := fanout.NewMessage(data)
		if binary {
			m = fanout.NewBinaryMessage(data)
		}
		m = m.WithEvent(string(event))
		reqs := []request{{topic: string(topic), m: m}, {cancelled: true}, {topic: "x", m: fanout.NewMessage(nil)}}
		buf := appendRecord(nil, time.Unix(0, 42), reqs)
		r, err := parseRecord(offsetKey(7), buf)
		if err != nil || r.at != 42 || r.count != 2 {
			t.Fatalf("parseRecord of a record: %+v, %v", r, err)
		}
		var got []entry
		if err := r.each(func(e *entry) bool { got = append(got, *e); return true }); err != nil || len(got) != 2 {
			t.Fatalf("each: %d entries, %v", len(got), err)
		}
		e := got[0]
		if e.offset != 7 || !bytes.Equal(e.topic, topic) || !bytes.Equal(e.event, event) || !bytes.Equal(e.data, data) || e.binary != binary {
			t.Fatalf("round trip: %+v", e)
		}
		if got[1].offset != 8 || string(got[1].topic) != "x" {
			t.Fatalf("second entry: %+v", got[1])
		}

		if r, err := parseRecord(offsetKey(1), junk); err == nil {
			_ = r.each(func(*entry) bool { return true })
		}
	})
}
