package main

import (
	"slices"
	"testing"
)

// A run's seed replays each publisher's draws; publishers (and the
// incarnations of a restarted node) draw differently from each other.
func TestPublisherRand(t *testing.T) {
	draws := func(seed uint64, name string) []uint64 {
		r := publisherRand(seed, name)
		out := make([]uint64, 8)
		for i := range out {
			out[i] = r.Uint64()
		}
		return out
	}
	a := draws(42, "c.c0.i0.p0")
	if !slices.Equal(a, draws(42, "c.c0.i0.p0")) {
		t.Error("the same seed and publisher drew differently")
	}
	for _, c := range []struct {
		seed uint64
		name string
	}{{42, "c.c0.i1.p0"}, {42, "c.c1.i0.p0"}, {43, "c.c0.i0.p0"}} {
		if slices.Equal(a, draws(c.seed, c.name)) {
			t.Errorf("seed %d, publisher %s drew as seed 42, c.c0.i0.p0", c.seed, c.name)
		}
	}
}
