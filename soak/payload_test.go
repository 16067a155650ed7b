package main

import (
	"testing"
)

// msg is a payload as a publisher writes it.
func msg(pub, topic string, seq, failed uint64, stamp, prev int64) []byte {
	return appendPayload(nil, pub, topic, seq, failed, stamp, prev, 120)
}

func TestParsePayload(t *testing.T) {
	p := msg("c.c1.i0.p2", "t3", 42, 1, 1000, 900)
	f, err := parsePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.key) != "c.c1.i0.p2 t3" || string(f.topic) != "t3" || f.seq != 42 || f.failed != 1 || f.stamp != 1000 || f.prev != 900 {
		t.Fatalf("parsed %+v", f)
	}
	if len(p) != 120 {
		t.Fatalf("payload of %d bytes, want 120", len(p))
	}
	for _, bad := range []string{"", "unknown", "a t 0 0 1 1", "a t x 0 1 1", "a  1 0 1 1"} {
		if _, err := parsePayload([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
