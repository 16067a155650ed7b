package main

import (
	"testing"
)

// TestChecker feeds one client's stream and counts what it reports.
func TestChecker(t *testing.T) {
	type step struct {
		seq, failed uint64
		stamp, prev int64
		resync      bool
		restart     int64 // a new connection at this time (0: none)
	}
	tests := []struct {
		name  string
		drop  bool
		t0    int64
		steps []step
		want  map[string]int
		miss  uint64
	}{
		{name: "consecutive", steps: []step{{seq: 5}, {seq: 6}, {seq: 7}}},
		{name: "gap", steps: []step{{seq: 5}, {seq: 7}}, want: map[string]int{"gap": 1}},
		{name: "duplicate", steps: []step{{seq: 5}, {seq: 6}, {seq: 6}}, want: map[string]int{"duplicate": 1}},
		{name: "older", steps: []step{{seq: 5}, {seq: 6}, {seq: 3}}, want: map[string]int{"duplicate": 1}},
		{name: "failed publishes may be missing", steps: []step{{seq: 5}, {seq: 8, failed: 2}}},
		{name: "more missing than failed", steps: []step{{seq: 5}, {seq: 9, failed: 2}}, want: map[string]int{"gap": 1}},
		{name: "failed publish that arrived", steps: []step{{seq: 5}, {seq: 6}, {seq: 7, failed: 1}}},
		{name: "resync restarts", steps: []step{{seq: 5}, {resync: true}, {seq: 9, prev: 1}}},
		{name: "late start", t0: 100, steps: []step{{seq: 5, prev: 150}}, want: map[string]int{"start": 1}},
		{name: "start in time", t0: 100, steps: []step{{seq: 5, prev: 90}}},
		{name: "new connection", steps: []step{{seq: 5}, {restart: 100}, {seq: 9, prev: 90}}},
		{name: "new connection, late", steps: []step{{seq: 5}, {restart: 100}, {seq: 9, prev: 110}}, want: map[string]int{"start": 1}},
		{name: "drop counts", drop: true, steps: []step{{seq: 2}, {seq: 3}, {seq: 7}}, miss: 4},
		{name: "drop with failed", drop: true, steps: []step{{seq: 1}, {seq: 4, failed: 1}}, miss: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			sys := &system{name: "test"}
			c := newChecker("c", sys, rec, tc.drop)
			c.restart(tc.t0)
			for _, s := range tc.steps {
				switch {
				case s.resync:
					c.resync("unknown", 50)
				case s.restart != 0:
					c.restart(s.restart)
				default:
					c.message(msg("p", "t1", s.seq, s.failed, s.stamp, s.prev), 0)
				}
			}
			for k, n := range tc.want {
				if rec.counts[k] != n {
					t.Errorf("%s: %d, want %d (%v)", k, rec.counts[k], n, rec.details)
				}
			}
			if sum(rec.counts) != sum(tc.want) {
				t.Errorf("violations %v, want %v", rec.counts, tc.want)
			}
			if c.missed != tc.miss {
				t.Errorf("missed %d, want %d", c.missed, tc.miss)
			}
		})
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestChecker_Join: messages of a topic being joined move its baseline
// until the ack; after it, a gap is one.
func TestChecker_Join(t *testing.T) {
	rec := newRecorder()
	c := newChecker("c", &system{}, rec, false)
	c.restart(10)
	c.message(msg("p", "t2", 3, 0, 5, 4), 0) // queued before a leave
	c.joining("t2")
	c.message(msg("p", "t2", 4, 0, 6, 5), 0)   // still queued from before
	c.message(msg("p", "t2", 9, 0, 20, 19), 0) // after the join: a gap, but not acknowledged yet
	c.joined("t2", 30)
	c.message(msg("p", "t2", 10, 0, 31, 20), 0)
	if rec.total.Load() != 0 {
		t.Fatalf("violations before the gap: %v", rec.details)
	}
	c.message(msg("p", "t2", 12, 0, 33, 32), 0)
	if rec.counts["gap"] != 1 {
		t.Fatalf("counts %v, want one gap", rec.counts)
	}
	// A publisher first seen after the ack, whose previous message came
	// after it: missing at the start.
	c.message(msg("q", "t2", 7, 0, 40, 35), 0)
	if rec.counts["start"] != 1 {
		t.Fatalf("counts %v, want one start", rec.counts)
	}
}

// TestChecker_Tail: at the end, a client must have every publisher's
// last message on its topics.
func TestChecker_Tail(t *testing.T) {
	want := map[string]seqState{
		"p t1": {last: 10, stamp: 100, topic: "t1"},
		"q t1": {last: 4, stamp: 200, topic: "t1"},
		"r t1": {last: 4, stamp: 20, topic: "t1"},  // before the client's start
		"p t2": {last: 8, stamp: 100, topic: "t2"}, // not its topic
	}
	rec := newRecorder()
	c := newChecker("c", &system{}, rec, false)
	c.restart(50)
	c.message(msg("p", "t1", 9, 0, 90, 40), 0)
	c.tail([]string{"t1"}, want)
	if rec.counts["tail"] != 2 {
		t.Fatalf("counts %v, want 2 tails (p t1 behind, q t1 never seen)\n%v", rec.counts, rec.details)
	}
	d := newChecker("d", &system{}, newRecorder(), true)
	d.message(msg("p", "t1", 9, 0, 90, 40), 0)
	d.tail([]string{"t1"}, want)
	if d.missed != 8+1+4+4 {
		t.Fatalf("drop client missed %d, want %d", d.missed, 8+1+4+4)
	}
}
