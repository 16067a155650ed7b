package main

import (
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis"
)

// baseline is what a node holds, read after a GC.
type baseline struct {
	Goroutines  int    `json:"goroutines"`
	HeapLive    uint64 `json:"heap_live"` // runtime.MemStats.HeapAlloc right after a GC
	FDs         int    `json:"fds"`
	RSS         uint64 `json:"rss"`
	Subscribers int    `json:"subscribers"`
	Stacks      string `json:"stacks,omitempty"`
}

func readBaseline(subscribers int) baseline {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return baseline{Goroutines: runtime.NumGoroutine(), HeapLive: ms.HeapAlloc, FDs: countFDs(), RSS: procRSS(), Subscribers: subscribers}
}

// nodeSample is what "poll" returns: counters are cumulative, lists are
// since the last poll.
type nodeSample struct {
	RSS         uint64            `json:"rss"`
	HeapAlloc   uint64            `json:"heap_alloc"`
	Goroutines  int               `json:"goroutines"`
	FDs         int               `json:"fds"`
	Subscribers int               `json:"subscribers"`
	CPU         int64             `json:"cpu"` // ns of CPU time used
	Stats       fanout.Stats      `json:"stats"`
	Engine      *redis.Stats      `json:"engine,omitempty"`
	Slow        map[string]uint64 `json:"slow"`    // "reason/policy" -> events
	Resyncs     map[string]uint64 `json:"resyncs"` // reason -> subscribers signalled
	Pub         pubSample         `json:"pub"`
	Gone        []disconnect      `json:"gone,omitempty"`
	Stalls      []stall           `json:"stalls,omitempty"` // since the last poll
}

func (n *node) poll() nodeSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := nodeSample{
		RSS: procRSS(), HeapAlloc: ms.HeapAlloc, Goroutines: runtime.NumGoroutine(), FDs: countFDs(),
		Subscribers: n.hub.Len(), CPU: ru.Utime.Nano() + ru.Stime.Nano(), Stats: n.hub.Stats(),
	}
	if n.eng != nil {
		st := n.eng.Stats()
		s.Engine = &st
	}
	s.Slow, s.Resyncs = n.obs.snapshot()
	if n.pubs != nil {
		s.Pub = n.pubs.sample()
	}
	n.mu.Lock()
	s.Gone, n.gone = n.gone, nil
	n.mu.Unlock()
	s.Stalls = n.canary.take()
	return s
}

// nodeObserver counts slow-subscriber events and resyncs.
type nodeObserver struct {
	mu      sync.Mutex
	slow    map[string]uint64
	resyncs map[string]uint64
}

func newNodeObserver() *nodeObserver {
	return &nodeObserver{slow: map[string]uint64{}, resyncs: map[string]uint64{}}
}

func (o *nodeObserver) BatchWritten(fanout.BatchWrite) {}

func (o *nodeObserver) SubscriberSlow(ev fanout.SlowEvent, applied fanout.Policy) {
	o.mu.Lock()
	o.slow[ev.Reason.String()+"/"+applied.String()]++
	o.mu.Unlock()
}

func (o *nodeObserver) Resynced(r fanout.Resync) {
	o.mu.Lock()
	o.resyncs[r.Reason.String()] += uint64(r.Subscribers)
	o.mu.Unlock()
}

func (o *nodeObserver) snapshot() (slow, resyncs map[string]uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	slow, resyncs = map[string]uint64{}, map[string]uint64{}
	for k, v := range o.slow {
		slow[k] = v
	}
	for k, v := range o.resyncs {
		resyncs[k] = v
	}
	return slow, resyncs
}
