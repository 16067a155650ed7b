package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a histogram of durations in log buckets (8 per power of two,
// so a quantile is within about 9%), safe for concurrent use.
type hist struct {
	b   [histBuckets]atomic.Uint64
	max atomic.Int64
}

const histBuckets = 64 * 8

func histBucket(ns int64) int {
	if ns < 8 {
		return int(max(ns, 0))
	}
	u := uint64(ns)
	e := bits.Len64(u) - 1       // 2^e <= u
	m := int(u>>(uint(e)-3)) & 7 // the 3 bits after the leading one
	return e*8 + m
}

// histValue is the upper bound of bucket i.
func histValue(i int) int64 {
	if i < 8*3 {
		return int64(i)
	}
	e, m := i/8, i%8
	return int64((uint64(8+m+1) << uint(e)) >> 3)
}

func (h *hist) add(d time.Duration) {
	ns := int64(d)
	h.b[histBucket(ns)].Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// counts is a snapshot of the buckets.
type counts []uint64

func (h *hist) snapshot() counts {
	c := make(counts, histBuckets)
	for i := range c {
		c[i] = h.b[i].Load()
	}
	return c
}

// sparse is counts as JSON carries them: bucket -> count.
func (c counts) sparse() map[int]uint64 {
	m := map[int]uint64{}
	for i, n := range c {
		if n > 0 {
			m[i] = n
		}
	}
	return m
}

func fromSparse(m map[int]uint64) counts {
	c := make(counts, histBuckets)
	for i, n := range m {
		if i >= 0 && i < histBuckets {
			c[i] = n
		}
	}
	return c
}

func (c counts) sub(o counts) counts {
	d := make(counts, histBuckets)
	for i := range c {
		if i < len(o) && c[i] >= o[i] {
			d[i] = c[i] - o[i]
		}
	}
	return d
}

func (c counts) addTo(o counts) {
	for i := range o {
		c[i] += o[i]
	}
}

func (c counts) total() uint64 {
	var n uint64
	for _, x := range c {
		n += x
	}
	return n
}

// quantile returns the q-quantile (0..1), at its bucket's upper bound.
func (c counts) quantile(q float64) time.Duration {
	n := c.total()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, x := range c {
		seen += x
		if seen >= rank {
			return time.Duration(histValue(i))
		}
	}
	return 0
}
