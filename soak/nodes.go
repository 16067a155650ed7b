package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/harness"
	"github.com/fanout-go/fanout/redis"
)

// system is one deployment under test: the node alone on its in-process
// engine, or the three nodes sharing Redis.
type system struct {
	name   string // "single", "cluster"
	code   string // "s", "c": the first letter of its publishers' names
	topics int
	nodes  []*nodeProc

	delivered atomicCounter // messages checked by its clients
}

func (s *system) addr(i int) string { return s.nodes[i].addr }

// nodeAt returns the node listening on addr.
func (s *system) nodeAt(addr string) *nodeProc {
	for _, n := range s.nodes {
		if n.addr == addr {
			return n
		}
	}
	return nil
}

// nodeProc is one node process, seen from the parent, across restarts.
type nodeProc struct {
	name  string
	sys   *system
	cfg   nodeConfig
	exe   string
	addr  string         // the same across restarts
	proxy *harness.Proxy // between it and Redis (cluster nodes)

	mu      sync.Mutex
	ch      *harness.Child
	pid     int
	up      bool
	base    baseline     // the first incarnation's, after its warm-up
	samples []nodeSample // the last poll of each incarnation
	kills   int
}

// start starts an incarnation; the first one warms up and reads its
// baseline before anything connects.
func (n *nodeProc) start(first bool) error {
	spec, err := json.Marshal(n.cfg)
	if err != nil {
		return err
	}
	ch, err := harness.StartChild(nil, n.exe, "-node", string(spec))
	if err != nil {
		return err
	}
	var hello struct {
		Addr string `json:"addr"`
		PID  int    `json:"pid"`
		Err  string `json:"err"`
	}
	if err := ch.Read(&hello, 30*time.Second); err != nil {
		ch.Kill()
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.ch, n.pid = ch, hello.PID
	if first {
		n.addr = hello.Addr // a restart takes the same port: clients read addr unlocked
	}
	n.cfg.Listen = hello.Addr // a restart takes the same port
	n.samples = append(n.samples, nodeSample{})
	n.up = true
	n.mu.Unlock()
	if first {
		var r struct{ Err string }
		if err := ch.Call("warm", &r, 60*time.Second); err != nil || r.Err != "" {
			return fmt.Errorf("node %s warm-up: %v %s", n.name, err, r.Err)
		}
		var b baseline
		if err := ch.Call("baseline", &b, 30*time.Second); err != nil {
			return fmt.Errorf("node %s baseline: %w", n.name, err)
		}
		n.base = b
	}
	return nil
}

func (n *nodeProc) child() *harness.Child {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.up {
		return nil
	}
	return n.ch
}

// call sends a command to the current incarnation.
func (n *nodeProc) call(cmd string, v any, d time.Duration) error {
	ch := n.child()
	if ch == nil {
		return fmt.Errorf("node %s is down", n.name)
	}
	return ch.Call(cmd, v, d)
}

// killCount returns how many times the node was killed so far.
func (n *nodeProc) killCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.kills
}

// poll reads the node's sample; it returns false when it is down.
func (n *nodeProc) poll() (nodeSample, bool) {
	var s nodeSample
	if err := n.call("poll", &s, 10*time.Second); err != nil {
		return s, false
	}
	n.mu.Lock()
	n.samples[len(n.samples)-1] = s
	n.mu.Unlock()
	return s, true
}

// kill ends the current incarnation with SIGKILL.
func (n *nodeProc) kill() {
	n.mu.Lock()
	ch := n.ch
	n.up = false
	n.kills++
	n.mu.Unlock()
	if ch != nil {
		ch.Kill()
	}
}

// restart starts the next incarnation, publishing at once.
func (n *nodeProc) restart() error {
	n.cfg.Inc++
	if err := n.start(false); err != nil {
		return err
	}
	var r struct{ Err string }
	if err := n.call("start", &r, 10*time.Second); err != nil || r.Err != "" {
		return fmt.Errorf("node %s start: %v %s", n.name, err, r.Err)
	}
	return nil
}

func (n *nodeProc) stop() {
	n.mu.Lock()
	ch := n.ch
	n.up = false
	n.mu.Unlock()
	if ch != nil {
		ch.Stop(15 * time.Second)
	}
}

// nodeTotals sums a node's incarnations.
type nodeTotals struct {
	Stats         fanout.Stats
	Published     uint64 // by its publishers
	PublishErrors uint64
	MaxPublish    time.Duration
	CPU           time.Duration
	Slow, Resyncs map[string]uint64
	Engine        *redis.Stats
	Lat           counts // Publish durations
}

// totals sums the counters of every incarnation's last sample.
func (n *nodeProc) totals() nodeTotals {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := nodeTotals{Lat: make(counts, histBuckets), Slow: map[string]uint64{}, Resyncs: map[string]uint64{}}
	for _, s := range n.samples {
		t.Stats.Published += s.Stats.Published
		t.Stats.Delivered += s.Stats.Delivered
		t.Stats.Dropped += s.Stats.Dropped
		t.Stats.Closed += s.Stats.Closed
		t.Stats.Timeouts += s.Stats.Timeouts
		t.Stats.Writes += s.Stats.Writes
		t.Stats.Batches += s.Stats.Batches
		t.Published += s.Pub.Published
		t.PublishErrors += s.Pub.Errors
		t.MaxPublish = max(t.MaxPublish, time.Duration(s.Pub.Max))
		t.CPU += time.Duration(s.CPU)
		for k, v := range s.Slow {
			t.Slow[k] += v
		}
		for k, v := range s.Resyncs {
			t.Resyncs[k] += v
		}
		t.Lat.addTo(fromSparse(s.Pub.Lat))
		if e := s.Engine; e != nil {
			if t.Engine == nil {
				t.Engine = &redis.Stats{}
			}
			te := t.Engine
			te.Published += e.Published
			te.PublishErrors += e.PublishErrors
			te.Recovered += e.Recovered
			te.Holes += e.Holes
			te.Checks += e.Checks
			te.Stuck += e.Stuck
			te.Reconnects += e.Reconnects
			te.Resyncs += e.Resyncs
			te.Epochs += e.Epochs
			te.MaxLag = max(te.MaxLag, e.MaxLag)
		}
	}
	return t
}
