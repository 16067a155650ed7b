package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// fault is one scheduled fault: at At (a fraction of the run), what.
type fault struct {
	At   float64
	Kind string // kill-pubsub, kill-normal, kill-all, latency, node-kill, redis-restart, redis-rollback, replica-failover
	Node int    // cluster node, for latency and node-kill
	Len  float64
	Lat  time.Duration
}

// schedule is the run's faults, spread over its first 85%, each kind at
// least twice but the rollback and the failover (once each). Every fault
// is on the cluster: the node alone carries the PolicyDrop group, whose
// count must be the node's alone.
var schedule = []fault{
	{At: 0.06, Kind: "kill-pubsub"},
	{At: 0.13, Kind: "latency", Node: 1, Len: 0.06, Lat: 100 * time.Millisecond},
	{At: 0.22, Kind: "kill-normal"},
	{At: 0.28, Kind: "node-kill", Node: 2},
	{At: 0.34, Kind: "redis-rollback", Len: 0.01},
	{At: 0.42, Kind: "redis-restart"},
	{At: 0.50, Kind: "latency", Node: 0, Len: 0.06, Lat: 30 * time.Millisecond},
	{At: 0.58, Kind: "kill-all"},
	{At: 0.64, Kind: "node-kill", Node: 0},
	{At: 0.70, Kind: "replica-failover", Len: 0.01, Lat: time.Second},
	{At: 0.76, Kind: "redis-restart"},
	{At: 0.82, Kind: "latency", Node: 2, Len: 0.03, Lat: 250 * time.Millisecond},
}

// faultRecord is what happened, for the report: the window [Start, End]
// (seconds since the publishers started) is when its effects are
// expected: until the node or Redis is back and a few seconds more.
type faultRecord struct {
	Kind       string
	Detail     string
	Start, End float64
	Nodes      []string // the nodes it concerns
}

// faults runs the schedule.
type faults struct {
	r      *runState
	mu     sync.Mutex
	done   []faultRecord
	errors []string
}

const faultSettle = 10 * time.Second // how long a fault's effects may last after it ended

func (f *faults) run(stop <-chan struct{}, d time.Duration) {
	for _, ft := range schedule {
		at := time.Duration(ft.At * float64(d))
		select {
		case <-stop:
			return
		case <-time.After(time.Until(f.r.runStart.Add(at))):
		}
		f.inject(ft, d)
	}
}

func (f *faults) since() float64 { return time.Since(f.r.runStart).Seconds() }

func (f *faults) record(rec faultRecord) {
	f.mu.Lock()
	f.done = append(f.done, rec)
	f.mu.Unlock()
	f.r.logf("fault %s: %s", rec.Kind, rec.Detail)
}

func (f *faults) fail(format string, args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	f.r.logf("fault failed: "+format, args...)
}

func (f *faults) inject(ft fault, d time.Duration) {
	r := f.r
	cluster := r.cluster
	all := make([]string, len(cluster.nodes))
	for i, n := range cluster.nodes {
		all[i] = n.name
	}
	start := f.since()
	settle := faultSettle.Seconds()
	switch ft.Kind {
	case "kill-pubsub", "kill-normal", "kill-all":
		types := map[string][]string{"kill-pubsub": {"pubsub"}, "kill-normal": {"normal"}, "kill-all": {"pubsub", "normal"}}[ft.Kind]
		var parts []string
		for _, t := range types {
			n, err := r.redis.do("CLIENT", "KILL", "TYPE", t)
			if err != nil {
				f.fail("CLIENT KILL TYPE %s: %v", t, err)
				continue
			}
			parts = append(parts, fmt.Sprintf("CLIENT KILL TYPE %s: %s connections", t, n))
		}
		f.record(faultRecord{Kind: ft.Kind, Detail: strings.Join(parts, "; "), Start: start, End: f.since() + settle, Nodes: all})
	case "latency":
		n := cluster.nodes[ft.Node]
		dur := max(time.Duration(ft.Len*float64(d)), 5*time.Second)
		n.proxy.SetDelay(ft.Lat)
		time.Sleep(dur)
		n.proxy.SetDelay(0)
		f.record(faultRecord{Kind: ft.Kind, Detail: fmt.Sprintf("%v each way between %s and Redis for %v", ft.Lat, n.name, dur.Round(time.Second)),
			Start: start, End: f.since() + settle, Nodes: []string{n.name}})
	case "node-kill":
		n := cluster.nodes[ft.Node]
		n.kill()
		time.Sleep(3 * time.Second)
		err := n.restart()
		detail := fmt.Sprintf("SIGKILL %s, restarted 3s later on the same port", n.name)
		if err != nil {
			f.fail("restart %s: %v", n.name, err)
			detail += fmt.Sprintf(" (restart failed: %v)", err)
		}
		f.record(faultRecord{Kind: ft.Kind, Detail: detail, Start: start, End: f.since() + settle, Nodes: []string{n.name}})
	case "redis-restart":
		err := r.redis.restart(time.Second, false)
		detail := "redis-server SIGKILLed, an empty one started on the same port 1s later"
		if err != nil {
			f.fail("redis restart: %v", err)
			detail += fmt.Sprintf(" (failed: %v)", err)
		}
		f.record(faultRecord{Kind: ft.Kind, Detail: detail, Start: start, End: f.since() + settle, Nodes: all})
	case "redis-rollback", "replica-failover":
		hold := max(time.Duration(ft.Len*float64(d)), 3*time.Second)
		var detail string
		var err error
		if ft.Kind == "redis-rollback" {
			detail, err = f.rollback(hold)
		} else {
			detail, err = f.failover(ft.Lat, hold)
		}
		if err != nil {
			f.fail("%s: %v", ft.Kind, err)
			detail += fmt.Sprintf(" (failed: %v)", err)
		}
		f.record(faultRecord{Kind: ft.Kind, Detail: detail, Start: start, End: f.since() + settle, Nodes: all})
	}
}

// within reports whether t (seconds since the run started) is in the
// window of a fault that concerns node.
func (f *faults) within(t float64, node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.done {
		if t >= r.Start-1 && t <= r.End {
			for _, n := range r.Nodes {
				if n == node {
					return true
				}
			}
		}
	}
	return false
}
