package main

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// atomicCounter is a counter shared by goroutines.
type atomicCounter struct{ v atomic.Uint64 }

func (c *atomicCounter) Add(n uint64) { c.v.Add(n) }
func (c *atomicCounter) Load() uint64 { return c.v.Load() }

// lockedRand is a random source that a client's goroutines (its session,
// its churn and its joins) share.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed1, seed2 uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(seed1, seed2))}
}

// IntN returns a number in [0, n).
func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}
