package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// checker follows one client's stream, message by message, against what
// the publishers published: for every publisher and topic (the key), each
// message must be the one after the last (no gap, no duplicate), except
//
//   - after a resync signal, a new connection that does not resume, or a
//     topic joined live: the key's expectation starts again at the next
//     message (a baseline), which must not be late: a message published
//     after the client was known to be subscribed (the baseline's time t0)
//     must not be missing before it (see first);
//   - sequence numbers whose Publish failed (the payload's FAILED): they
//     may be missing, or present;
//   - clients of the PolicyDrop group: a gap is counted as missed, to be
//     compared with the server's Dropped.
//
// A checker is used by its client's goroutine only; what it reports goes
// to a shared recorder.
type checker struct {
	name string
	sys  *system
	rec  *recorder
	drop bool // PolicyDrop group: gaps are counted, expected from seq 1

	keys       map[string]*seqState
	t0         int64            // CLOCK_MONOTONIC since which the client is subscribed to its topics (0: unknown)
	joinT0     map[string]int64 // topic joined live -> when the node's ack arrived (0: ack pending)
	missed     uint64           // drop group: messages missed
	tailMissed uint64           // of those, at the end (see tail)
	got        uint64           // messages checked
	resyncs    int
	hist       []string // recent events, for violation reports
}

// seqState is what a checker knows of one key.
type seqState struct {
	last  uint64 // last sequence number received
	stamp int64  // its publish stamp
	topic string
}

func newChecker(name string, sys *system, rec *recorder, drop bool) *checker {
	return &checker{name: name, sys: sys, rec: rec, drop: drop, keys: map[string]*seqState{}, joinT0: map[string]int64{}}
}

// event records what happened to the client, for the violation reports.
func (c *checker) event(format string, args ...any) {
	s := fmt.Sprintf("%.3fs ", sinceStart().Seconds()) + fmt.Sprintf(format, args...)
	if len(c.hist) == 12 {
		copy(c.hist, c.hist[1:])
		c.hist = c.hist[:11]
	}
	c.hist = append(c.hist, s)
}

// restart forgets every key: the stream goes on from an unknown point,
// with everything published after t0 expected (t0 0: no such check).
func (c *checker) restart(t0 int64) {
	clear(c.keys)
	clear(c.joinT0)
	c.t0 = t0
}

// resync is a resync signal with reason, received at now.
func (c *checker) resync(reason string, now int64) {
	c.resyncs++
	c.event("resync %q", reason)
	c.rec.resync(c.sys.name, reason, c.drop)
	if c.drop {
		c.rec.violation(c, "drop-resync", "a client of the PolicyDrop group got a resync signal (%s): its count cannot be compared", reason)
	}
	c.restart(now)
}

// joining forgets topic's keys: the client asked to join it.
func (c *checker) joining(topic string) {
	for k, st := range c.keys {
		if st.topic == topic {
			delete(c.keys, k)
		}
	}
	c.joinT0[topic] = 0
}

// joined is the node's ack of a join, received at now.
func (c *checker) joined(topic string, now int64) {
	if _, ok := c.joinT0[topic]; ok {
		c.joinT0[topic] = now
	}
}

// message checks one message, received at now, and reports whether it
// was one.
func (c *checker) message(p []byte, now int64) bool {
	f, err := parsePayload(p)
	if err != nil {
		c.rec.violation(c, "malformed", "payload %.80q: %v", p, err)
		return false
	}
	c.got++
	c.sys.delivered.Add(1)
	st := c.keys[string(f.key)]
	if st == nil {
		st = &seqState{topic: string(f.topic)}
		c.keys[string(f.key)] = st
		if !c.drop {
			c.first(f, st)
			st.last, st.stamp = f.seq, f.stamp
			return true
		}
	}
	if at, ok := c.joinT0[st.topic]; ok && at == 0 {
		// Joining, not acknowledged yet: what was queued before a leave,
		// then what followed the join, with a gap between. The key's
		// baseline moves along until the ack.
		st.last, st.stamp = f.seq, f.stamp
		return true
	}
	switch {
	case f.seq <= st.last:
		c.rec.violation(c, "duplicate", "%s: got %d after %d (again, or out of order)", f.key, f.seq, st.last)
		return true
	case f.seq > st.last+1:
		missing := f.seq - st.last - 1
		if missing > f.failed {
			lost := missing - f.failed
			if c.drop {
				c.missed += lost
			} else {
				c.rec.violation(c, "gap", "%s: got %d after %d: %d missing (%d of them failed publishes)",
					f.key, f.seq, st.last, missing, f.failed)
			}
		}
	}
	st.last, st.stamp = f.seq, f.stamp
	return true
}

// first checks a key's first message since its baseline: the message
// before it must have been published before the client was subscribed.
func (c *checker) first(f fields, st *seqState) {
	t0 := c.t0
	if j, ok := c.joinT0[st.topic]; ok {
		t0 = j
	}
	if j, ok := c.joinT0[st.topic]; ok && j == 0 {
		return // joining: see message
	}
	if t0 == 0 || f.seq == 1 || f.failed > 0 || f.prev <= t0 {
		return
	}
	c.rec.violation(c, "start", "%s: first message %d, but %d was published %.1fms after the client was subscribed",
		f.key, f.seq, f.seq-1, float64(f.prev-t0)/1e6)
}

// tail checks, at the end, that the client has the last message of every
// publisher on each of its topics (want: the system's).
func (c *checker) tail(topics []string, want map[string]seqState) {
	for key, w := range want {
		if !containsString(topics, w.topic) {
			continue
		}
		st := c.keys[key]
		have := uint64(0)
		if st != nil {
			have = st.last
		}
		if have >= w.last {
			continue
		}
		switch {
		case c.drop:
			c.missed += w.last - have
			c.tailMissed += w.last - have
			c.event("tail %s: %d, the last %d", key, have, w.last)
		case st == nil:
			t0 := c.t0
			if j, ok := c.joinT0[w.topic]; ok {
				t0 = j
			}
			if t0 != 0 && w.stamp > t0 {
				c.rec.violation(c, "tail", "%s: nothing received, but %d was published %.1fms after the client was subscribed",
					key, w.last, float64(w.stamp-t0)/1e6)
			}
		default:
			c.rec.violation(c, "tail", "%s: the last message received is %d, the publisher's last %d", key, have, w.last)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// recorder gathers what every checker reports.
type recorder struct {
	mu      sync.Mutex
	counts  map[string]int // violations by kind
	details []string       // the first ones, in full
	resyncs map[string]int // "system reason" -> count
	total   atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int{}, resyncs: map[string]int{}}
}

const maxDetails = 60

func (r *recorder) violation(c *checker, kind, format string, args ...any) {
	r.add(kind, func(at time.Duration, msg string) string {
		return fmt.Sprintf("[%s] %s at %.3fs: %s\n      recent: %s", kind, c.name, at.Seconds(), msg, strings.Join(c.hist, " | "))
	}, format, args...)
}

// other records a violation that is not a client's.
func (r *recorder) other(kind, format string, args ...any) {
	r.add(kind, func(at time.Duration, msg string) string {
		return fmt.Sprintf("[%s] at %.3fs: %s", kind, at.Seconds(), msg)
	}, format, args...)
}

// add counts a violation of kind and, while there is room, keeps its
// detail: what detail makes of when it happened and of the message.
func (r *recorder) add(kind string, detail func(at time.Duration, msg string) string, format string, args ...any) {
	r.total.Add(1)
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[kind]++
	if len(r.details) < maxDetails {
		r.details = append(r.details, detail(sinceStart(), msg))
	}
}

func (r *recorder) resync(sys, reason string, drop bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resyncs[sys+" "+reason]++
}
