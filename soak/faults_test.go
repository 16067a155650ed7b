package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// TestRestartAfterFailover: the redis-restart fault that follows the
// failover fault brings back a primary (empty, writable), as it does
// before a failover, not the replica that the promoted server was
// started as: a read-only replica of a link that is gone would fail
// every write until the end of the run, and the nodes could never see
// the new epoch that tells their clients what the restart lost.
func TestRestartAfterFailover(t *testing.T) {
	s, err := startRedis()
	if errors.Is(err, harness.ErrNoRedis) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &runState{redis: s, cluster: &system{}}
	defer func() { r.redis.stop() }()
	f := &faults{r: r}
	if _, err := r.redis.do("SET", "before", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.failover(10*time.Millisecond, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if v, err := r.redis.do("GET", "before"); err != nil || v != "1" {
		t.Fatalf("the promoted replica has before = %q, %v; want the primary's 1", v, err)
	}
	if _, err := r.redis.do("SET", "promoted", "1"); err != nil {
		t.Fatalf("the promoted replica refuses a write: %v", err)
	}
	if err := r.redis.restart(10*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.redis.do("SET", "restarted", "1"); err != nil {
		t.Fatalf("the server restarted after the failover refuses a write: %v", err)
	}
	if v, err := r.redis.do("GET", "promoted"); err != nil || v != "" {
		t.Fatalf("the server restarted empty has promoted = %q, %v; want nothing", v, err)
	}
	info, err := r.redis.do("INFO", "replication")
	if err != nil || !strings.Contains(info, "role:master") {
		t.Fatalf("the server restarted after the failover: %q, %v; want role:master", info, err)
	}
}

// TestCheckPublishes: a Publish that failed outside every fault's
// window is a violation unless a stall of its process covers it (its
// deadline passed while the process did not run): a fast failure (a
// Redis that refuses writes) is one, however fast.
func TestCheckPublishes(t *testing.T) {
	const sec = int64(time.Second)
	tests := []struct {
		name    string
		pub     slowPub
		stalls  []stall
		want    string // the violation's kind, or ""
		stalled int
	}{
		{name: "fast error", pub: slowPub{At: 10 * sec, Lat: int64(time.Millisecond), Err: "READONLY You can't write against a read only replica."}, want: "publish-error"},
		{name: "deadline in a stall", pub: slowPub{At: 10 * sec, Lat: 3 * sec, Err: "context deadline exceeded"},
			stalls: []stall{{From: 10*sec + sec/10, To: 13 * sec}}, stalled: 1},
		{name: "deadline", pub: slowPub{At: 10 * sec, Lat: 3 * sec, Err: "context deadline exceeded"}, want: "publish-error"},
		{name: "slow", pub: slowPub{At: 10 * sec, Lat: sec}, want: "publish-blocked"},
		{name: "slow in a stall", pub: slowPub{At: 10 * sec, Lat: sec}, stalls: []stall{{From: 10 * sec, To: 11 * sec}}, stalled: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &runState{rec: newRecorder(), canary: &canary{},
				slowPubs: map[string][]slowPub{"c0": {tc.pub}}, stalls: map[string][]stall{"c0": tc.stalls}}
			r.faults = &faults{r: r}
			_, outside, stalled := r.checkPublishes()
			if outside != 1 || stalled != tc.stalled {
				t.Errorf("outside %d, stalled %d; want 1, %d", outside, stalled, tc.stalled)
			}
			want := map[string]int{}
			if tc.want != "" {
				want[tc.want] = 1
			}
			if sum(r.rec.counts) != sum(want) || r.rec.counts[tc.want] != want[tc.want] {
				t.Errorf("violations %v, want %v", r.rec.counts, want)
			}
		})
	}
}

// The rollback fault's report line reads a partition's epoch and head in
// one reply.
func TestHeadID(t *testing.T) {
	for _, c := range []struct {
		reply any
		err   error
		want  string
	}{
		{[]any{"k2f9w", "42"}, nil, "k2f9w-42"},
		{[]any{nil, nil}, nil, "none"},       // no meta hash
		{[]any{"k2f9w"}, nil, "none"},        // not an HMGET of two fields
		{"OK", nil, "none"},                  // not an array
		{nil, errors.New("refused"), "none"}, // Redis down
	} {
		if got := headID(c.reply, c.err); got != c.want {
			t.Errorf("headID(%v, %v) = %q, want %q", c.reply, c.err, got, c.want)
		}
	}
}
