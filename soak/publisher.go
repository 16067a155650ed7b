package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout"
)

// publishers are a node's publishing goroutines. Each publishes at its
// rate, with a burst every so often, to a topic drawn at random, numbering
// its messages per topic (see payload.go); each Publish is timed.
type publishers struct {
	cfg   nodeConfig
	hub   *fanout.Hub
	stopc chan struct{}
	wg    sync.WaitGroup
	lat   hist

	published, errors atomic.Uint64

	mu      sync.Mutex
	slow    []slowPub // since the last sample
	lastErr string
	finals  map[string]seqFinal
}

// slowPub is a Publish that took longer than slowPublish.
type slowPub struct {
	At  int64  `json:"at"`  // CLOCK_MONOTONIC when it was called
	Lat int64  `json:"lat"` // ns
	Err string `json:"err,omitempty"`
}

const slowPublish = 50 * time.Millisecond

// pubSample is the publishers' part of a node's poll.
type pubSample struct {
	Published uint64         `json:"published"`
	Errors    uint64         `json:"errors"`
	Lat       map[int]uint64 `json:"lat"` // cumulative histogram of Publish durations
	Max       int64          `json:"max"`
	Slow      []slowPub      `json:"slow,omitempty"`
	LastErr   string         `json:"last_err,omitempty"`
}

// seqFinal is where one publisher's numbering of one topic ended.
type seqFinal struct {
	Topic    string `json:"topic"`
	Last     uint64 `json:"last"`  // the last sequence number whose Publish succeeded
	Stamp    int64  `json:"stamp"` // its stamp
	Attempts uint64 `json:"attempts"`
}

// pubFinal answers "stop".
type pubFinal struct {
	Finals    map[string]seqFinal `json:"finals"` // "PUB TOPIC" -> end
	Published uint64              `json:"published"`
	Errors    uint64              `json:"errors"`
}

func startPublishers(cfg nodeConfig, hub *fanout.Hub) *publishers {
	p := &publishers{cfg: cfg, hub: hub, stopc: make(chan struct{}), finals: map[string]seqFinal{}}
	for i := range cfg.Pubs {
		name := fmt.Sprintf("%s.%s.i%d.p%d", cfg.System, cfg.Name, cfg.Inc, i)
		p.wg.Go(func() { p.run(name) })
	}
	return p
}

func (p *publishers) stop() pubFinal {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return pubFinal{Finals: p.finals, Published: p.published.Load(), Errors: p.errors.Load()}
}

func (p *publishers) sample() pubSample {
	p.mu.Lock()
	slow, lastErr := p.slow, p.lastErr
	p.slow = nil
	p.mu.Unlock()
	return pubSample{Published: p.published.Load(), Errors: p.errors.Load(), Lat: p.lat.snapshot().sparse(),
		Max: p.lat.max.Load(), Slow: slow, LastErr: lastErr}
}

// pubTopic is one publisher's numbering of one topic.
type pubTopic struct {
	seq, failed, lastOK uint64
	prev, okStamp       int64
}

func (p *publishers) run(name string) {
	rng := publisherRand(p.cfg.Seed, name)
	topics := make([]pubTopic, p.cfg.Topics)
	interval := time.Duration(float64(time.Second) / p.cfg.Rate)
	next := time.Now()
	nextBurst := next.Add(time.Duration(rng.Int64N(int64(p.cfg.BurstEvery))))
	defer func() {
		p.mu.Lock()
		for i, t := range topics {
			if t.seq > 0 {
				p.finals[name+" "+topicName(i)] = seqFinal{Topic: topicName(i), Last: t.lastOK, Stamp: t.okStamp, Attempts: t.seq}
			}
		}
		p.mu.Unlock()
	}()
	for {
		n := 1
		if now := time.Now(); now.After(nextBurst) {
			n = p.cfg.Burst
			nextBurst = now.Add(p.cfg.BurstEvery/2 + time.Duration(rng.Int64N(int64(p.cfg.BurstEvery))))
		}
		for range n {
			ti := rng.IntN(len(topics))
			p.publish(name, ti, &topics[ti], rng)
		}
		next = next.Add(interval)
		if lag := time.Since(next); lag > time.Second {
			next = time.Now() // behind: do not catch up in a rush
		}
		select {
		case <-p.stopc:
			return
		case <-time.After(time.Until(next)):
		}
	}
}

// publisherRand returns the random source of the publisher called name in
// a run of seed: a run's -seed replays its publishers' draws (topics,
// bursts, sizes), each publisher its own, and each incarnation of a
// restarted node its own (name carries it).
func publisherRand(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// size draws a payload size: mostly small, some of a few KiB, a few
// larger than a socket write.
func size(rng *rand.Rand) int {
	switch r := rng.IntN(100); {
	case r < 90:
		return 60 + rng.IntN(200)
	case r < 99:
		return 500 + rng.IntN(1500)
	default:
		return 4096 + rng.IntN(12<<10)
	}
}

func (p *publishers) publish(name string, ti int, t *pubTopic, rng *rand.Rand) {
	t.seq++
	topic := topicName(ti)
	stamp := monoNow()
	b := appendPayload(make([]byte, 0, 64), name, topic, t.seq, t.failed, stamp, t.prev, size(rng))
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	err := p.hub.Publish(ctx, topic, fanout.NewMessage(b))
	cancel()
	lat := time.Duration(monoNow() - stamp)
	p.lat.add(lat)
	t.prev = stamp
	if err != nil {
		t.failed++
		p.errors.Add(1)
	} else {
		t.failed = 0
		t.lastOK, t.okStamp = t.seq, stamp
		p.published.Add(1)
	}
	if lat >= slowPublish || err != nil {
		p.mu.Lock()
		s := slowPub{At: stamp, Lat: int64(lat)}
		if err != nil {
			s.Err = err.Error()
			p.lastErr = s.Err
		}
		if len(p.slow) < 1000 {
			p.slow = append(p.slow, s)
		}
		p.mu.Unlock()
	}
}
