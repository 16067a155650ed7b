package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

func numCPU() int { return runtime.NumCPU() }

// tails checks, once the publishers have stopped and the clients have
// drained, that every client has the last message of every publisher on
// each topic it has. What a publisher published last is the larger of
// what it said (its last successful Publish; a node that was killed says
// nothing) and what any client of the system received.
func (r *runState) tails() {
	for _, sys := range r.systems {
		want := map[string]seqState{}
		for k, f := range r.finals[sys.name] {
			want[k] = seqState{last: f.Last, stamp: f.Stamp, topic: f.Topic}
		}
		for _, c := range r.clients {
			if c.sys != sys || c.spec.read == readNever {
				continue
			}
			for k, st := range c.chk.keys {
				if st.last > want[k].last {
					want[k] = *st
				}
			}
		}
		for _, c := range r.clients {
			if c.sys != sys || c.spec.read == readNever || c.closed {
				continue
			}
			c.chk.tail(c.topics, want)
		}
	}
}

// dropResult is one PolicyDrop client's count against its node's.
type dropResult struct {
	id              string
	missed, dropped uint64
	got             uint64
	found           bool
}

// compareDrops compares what each PolicyDrop client missed with the
// Dropped its node counted for it (reported when it disconnected).
func (r *runState) compareDrops() []dropResult {
	var drops []*soakClient
	for _, c := range r.clients {
		if c.spec.drop && c.spec.read != readNever && !c.closed {
			drops = append(drops, c)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, n := range r.single.nodes {
			r.pollNode(n)
		}
		r.mu.Lock()
		missing := 0
		for _, c := range drops {
			if len(r.gone[c.id]) == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var out []dropResult
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range drops {
		d := dropResult{id: c.id, missed: c.chk.missed, got: c.chk.got}
		if g := r.gone[c.id]; len(g) > 0 {
			d.found, d.dropped = true, g[len(g)-1].Dropped
		}
		switch {
		case !d.found:
			r.rec.other("drop-count", "%s: its node never reported it gone", c.id)
		case d.missed != d.dropped:
			r.rec.violation(c.chk, "drop-count", "missed %d messages (%d at the end), its node's Dropped is %d", d.missed, c.chk.tailMissed, d.dropped)
		}
		out = append(out, d)
	}
	r.drops = out
	return out
}

// baselineResult is a node's end state against its baseline.
type baselineResult struct {
	node      string
	base, end baseline
	err       error
	ok        bool
}

// Slack allowed at the end over each node's baseline (taken after its
// warm-up, with the Ring full). Goroutines and descriptors: a Redis
// client may hold a connection more after reconnecting; heap: pools and
// caches sized by the run's peaks.
const (
	slackGoroutines = 5
	slackFDs        = 4
	slackHeapMiB    = 4
)

// finalBaselines waits for each node to have no subscriber left and
// compares it with its baseline.
func (r *runState) finalBaselines() []baselineResult {
	out := make([]baselineResult, len(r.nodes))
	var wg sync.WaitGroup
	for i, n := range r.nodes {
		wg.Go(func() {
			res := baselineResult{node: n.name, base: n.base}
			res.err = n.call("final", &res.end, 90*time.Second)
			out[i] = res
		})
	}
	wg.Wait()
	for i := range out {
		res := &out[i]
		if res.err != nil {
			r.rec.other("baseline", "%s: %v", res.node, res.err)
			continue
		}
		b, e := res.base, res.end
		heapSlack := max(uint64(slackHeapMiB<<20), b.HeapLive/4)
		var bad []string
		if e.Subscribers != 0 {
			bad = append(bad, fmt.Sprintf("%d subscribers left", e.Subscribers))
		}
		if e.Goroutines > b.Goroutines+slackGoroutines {
			bad = append(bad, fmt.Sprintf("goroutines %d, baseline %d", e.Goroutines, b.Goroutines))
		}
		if e.FDs > b.FDs+slackFDs {
			bad = append(bad, fmt.Sprintf("fds %d, baseline %d", e.FDs, b.FDs))
		}
		if e.HeapLive > b.HeapLive+heapSlack {
			bad = append(bad, fmt.Sprintf("live heap %.1f MiB, baseline %.1f MiB", mib(e.HeapLive), mib(b.HeapLive)))
		}
		res.ok = len(bad) == 0
		if !res.ok {
			r.rec.other("baseline", "%s: %s\n%s", res.node, strings.Join(bad, "; "), firstLines(e.Stacks, 80))
		}
	}
	return out
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// Slack allowed for the machine's TCP sockets at the end over the
// baseline (taken once the nodes were up, before any client): other
// engineers' processes share the machine and its counters.
const (
	slackOrphans = 16
	slackMemPgs  = 1024 // 4 MiB
)

// awaitSockets waits (up to 60s) for the machine's orphaned TCP sockets
// and TCP memory to come back to the baseline.
func (r *runState) awaitSockets() sockstat {
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := readSockstat()
		ok := s.Orphan <= r.sockBase.Orphan+slackOrphans && s.Mem <= r.sockBase.Mem+slackMemPgs
		if ok || time.Now().After(deadline) {
			if !ok {
				r.rec.other("sockets", "TCP orphans %d (baseline %d), TCP memory %d pages (baseline %d) after 60s",
					s.Orphan, r.sockBase.Orphan, s.Mem, r.sockBase.Mem)
			}
			return s
		}
		time.Sleep(time.Second)
	}
}
