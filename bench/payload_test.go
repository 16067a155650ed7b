package main

import (
	"bytes"
	"testing"
	"time"
)

func TestPayload_RoundTrip(t *testing.T) {
	b := newPayload(64, 123456789*time.Nanosecond, 4242)
	if len(b) != 64 {
		t.Fatalf("len %d", len(b))
	}
	d := decode(b)
	if !d.ok || d.warm || d.due != 123456789 || d.seq != 4242 {
		t.Errorf("decode = %+v", d)
	}
	w := decode(newWarmup(64, 7))
	if !w.ok || !w.warm || w.seq != 7 {
		t.Errorf("warm-up decode = %+v", w)
	}
	if decode([]byte("short")).ok || decode(bytes.Repeat([]byte("z"), 64)).ok {
		t.Error("garbage decoded")
	}
}
