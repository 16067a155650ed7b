package redis

import (
	"testing"

	"github.com/fanout-go/fanout"
)

func TestParseLive(t *testing.T) {
	l, err := parseLive("ep1 42 1700000000000 3 2\ntoptehello")
	if err != nil {
		t.Fatal(err)
	}
	if want := (live{epoch: "ep1", offset: 42, ms: 1700000000000, topic: "top", kind: "te", data: "hello"}); l != want {
		t.Fatalf("parseLive = %+v, want %+v", l, want)
	}
	if l, err := parseLive("ep 1 2 0 1\nt"); err != nil || l.topic != "" || l.kind != "t" || l.data != "" {
		t.Fatalf("parseLive of a broadcast with no data = %+v, %v", l, err)
	}
	for _, s := range []string{
		"", "ep 1 2 3 1", "ep 1 2 3\ntopt", "ep 1 2 3 1 9\ntopt", "ep x 2 3 1\ntopt",
		"ep 1 x 3 1\ntopt", "ep 1 2 -1 1\ntopt", "ep 1 2 3 -1\ntopt", "ep 1 2 9 1\ntopt",
		"ep 1 2 3 9\ntopt", " 1 2 3 1\ntopt",
	} {
		if l, err := parseLive(s); err == nil {
			t.Errorf("parseLive(%q) = %+v, want an error", s, l)
		}
	}
}

// A node parses every live message of the topics it follows: with many
// topics and few subscribers each, that is a cost per delivery.
func TestParseLiveAllocs(t *testing.T) {
	s := "AbCdEfGh 123456 1700000000000 6 1\nt01234thello, world"
	if n := testing.AllocsPerRun(100, func() {
		if _, err := parseLive(s); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("parseLive: %v allocations per message, want 0", n)
	}
}

// BenchmarkReceive is what a node does with each live message before the
// core's fan-out: parse the payload, rebuild the Message.
func BenchmarkReceive(b *testing.B) {
	s := "AbCdEfGh 123456 1700000000000 6 1\nt01234t" + string(make([]byte, 64))
	b.ReportAllocs()
	for b.Loop() {
		l, err := parseLive(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := stored(l.topic, l.kind, l.data, fanout.Position{Epoch: l.epoch, Offset: l.offset}); err != nil {
			b.Fatal(err)
		}
	}
}
