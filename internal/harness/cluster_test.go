//go:build linux

package harness

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// startCluster starts a cluster for a test, which skips without
// redis-server (fails under CI).
func startCluster(t *testing.T, o ClusterOptions) *RedisCluster {
	t.Helper()
	c, err := StartCluster(o)
	if errors.Is(err, ErrNoRedis) {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found: CI must install it")
		}
		t.Skip("redis-server not found (apt-get install -y redis-server)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestStartCluster: every node sees the slots covered, each master
// serving one range, and a key is served by its master only (the
// others answer MOVED).
func TestStartCluster(t *testing.T) {
	c := startCluster(t, ClusterOptions{})
	if len(c.Masters) != 3 {
		t.Fatalf("%d masters, want 3", len(c.Masters))
	}
	for _, s := range c.Masters {
		ranges, err := c.Slots(s)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ranges, func(a, b SlotRange) int { return a.Lo - b.Lo })
		next := 0
		var ports []int
		for _, r := range ranges {
			if r.Lo != next || r.Hi < r.Lo {
				t.Fatalf("%s: slots %v: a gap or an overlap at %d", s.Addr(), ranges, next)
			}
			next = r.Hi + 1
			ports = append(ports, r.Port)
		}
		if next != ClusterSlots {
			t.Fatalf("%s: slots %v end at %d, want %d", s.Addr(), ranges, next-1, ClusterSlots-1)
		}
		slices.Sort(ports)
		want := []int{c.Masters[0].Port(), c.Masters[1].Port(), c.Masters[2].Port()}
		slices.Sort(want)
		if !slices.Equal(ports, want) {
			t.Fatalf("%s: ranges served by %v, want one each by %v", s.Addr(), ports, want)
		}
	}
	m, err := c.MasterOf("k")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Masters {
		_, err := s.Do("SET", "k", "v")
		switch {
		case s == m && err != nil:
			t.Fatalf("SET at the key's master %s: %v", s.Addr(), err)
		case s != m && (err == nil || !strings.HasPrefix(err.Error(), "MOVED")):
			t.Fatalf("SET at %s, not the key's master: %v, want MOVED", s.Addr(), err)
		}
	}
	if err := c.Each("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Text("GET", "k"); err != nil || v != "" {
		t.Fatalf("GET after FLUSHALL: %q, %v", v, err)
	}
}

// TestStartClusterMasters: ClusterOptions.Masters sets the size.
func TestStartClusterMasters(t *testing.T) {
	c := startCluster(t, ClusterOptions{Masters: 1})
	ranges, err := c.Slots(c.Masters[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Masters) != 1 || len(ranges) != 1 || ranges[0] != (SlotRange{0, ClusterSlots - 1, c.Masters[0].Port()}) {
		t.Fatalf("%d masters, slots %v", len(c.Masters), ranges)
	}
}
