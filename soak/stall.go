package main

import (
	"sync"
	"time"
)

// The machine is shared: another engineer's build can take both cores
// for seconds, and then a Publish is slow because its process did not
// run, not because it waited on anything. A canary in each process (the
// nodes, and the parent, which carries the clients and the Redis
// proxies) sleeps 10ms at a time and records every wake-up more than
// stallMin late: a stall of that process. A slow Publish is the
// library's only for the part of it that no stall covers.

const stallMin = 50 * time.Millisecond

// stall is a period during which a process did not run (CLOCK_MONOTONIC).
type stall struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

type canary struct {
	mu     sync.Mutex
	stalls []stall
	total  time.Duration
}

func startCanary(stop <-chan struct{}) *canary {
	c := &canary{}
	go func() {
		for {
			t := monoNow()
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if late := time.Duration(monoNow()-t) - 10*time.Millisecond; late > stallMin {
				c.mu.Lock()
				c.stalls = append(c.stalls, stall{From: t + int64(10*time.Millisecond), To: monoNow()})
				c.total += late
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// take returns the stalls since the last call.
func (c *canary) take() []stall {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stalls
	c.stalls = nil
	return s
}

// covered returns how much of [from, to] the stalls cover.
func covered(stalls []stall, from, to int64) time.Duration {
	var d int64
	for _, s := range stalls {
		a, b := max(s.From, from), min(s.To, to)
		if b > a {
			d += b - a
		}
	}
	return time.Duration(d)
}
