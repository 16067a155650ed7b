package main

import "sync/atomic"

// atomicCounter is a counter shared by goroutines.
type atomicCounter struct{ v atomic.Uint64 }

func (c *atomicCounter) Add(n uint64) { c.v.Add(n) }
func (c *atomicCounter) Load() uint64 { return c.v.Load() }
