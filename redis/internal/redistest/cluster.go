package redistest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of three masters (no replicas), each a
// Server on a loopback port.
type Cluster struct {
	Masters []*Server
}

// StartCluster starts a 3-master cluster (redis-cli --cluster create) and
// waits until every node reports cluster_state:ok and agrees on the slots.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range 3 {
		c.Masters = append(c.Masters, Start(t,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--cluster-require-full-coverage", "no"))
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(StartTimeout)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready within %v", StartTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling: the nodes gossip until they agree
	}
	return c
}

// ready reports whether every node sees the whole cluster, with every
// slot assigned.
func (c *Cluster) ready() bool {
	for _, m := range c.Masters {
		info, err := String(m.Do("CLUSTER", "INFO"))
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
			return false
		}
		slots, err := m.Do("CLUSTER", "SLOTS")
		if err != nil {
			return false
		}
		if s, ok := slots.([]any); !ok || len(s) != 3 {
			return false
		}
	}
	return true
}

// Addrs returns the masters' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		addrs[i] = m.Addr()
	}
	return addrs
}

// FlushAll empties every master.
func (c *Cluster) FlushAll(t testing.TB) {
	t.Helper()
	for _, m := range c.Masters {
		if _, err := m.Do("FLUSHALL"); err != nil {
			t.Fatal(err)
		}
	}
}

// MasterOf returns the master that serves key's slot.
func (c *Cluster) MasterOf(t testing.TB, key string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	slot, err := Do(ctx, c.Masters[0].Addr(), "CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Masters[0].Do("CLUSTER", "SLOTS")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reply.([]any) {
		rng := r.([]any)
		lo, hi := rng[0].(int64), rng[1].(int64)
		if lo <= slot.(int64) && slot.(int64) <= hi {
			port := rng[2].([]any)[1].(int64)
			for _, m := range c.Masters {
				if m.Port() == int(port) {
					return m
				}
			}
		}
	}
	t.Fatalf("no master for slot %v", slot)
	return nil
}
