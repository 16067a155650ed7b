package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// Cluster is a Redis Cluster of three masters, each a Server on a
// loopback port, and, when started by StartClusterWithReplicas, one
// replica of each.
type Cluster struct {
	Masters  []*Server
	Replicas []*Server
}

// StartCluster starts a 3-master cluster (redis-cli --cluster create) and
// waits until every node reports cluster_state:ok and agrees on the slots.
func StartCluster(t testing.TB) *Cluster { return startCluster(t, 0, "5000") }

// StartClusterWithReplicas starts a 3-master cluster with one replica of
// each master (--cluster-replicas 1), whose nodes declare a peer failed
// after a second (cluster-node-timeout 1000): a killed master's replica
// takes over within seconds.
func StartClusterWithReplicas(t testing.TB) *Cluster { return startCluster(t, 1, "1000") }

func startCluster(t testing.TB, replicas int, nodeTimeout string) *Cluster {
	t.Helper()
	var all []*Server
	for range 3 * (1 + replicas) {
		// The cluster bus on a free port of its own: the default, the
		// node's port + 10000, may be taken, or past 65535.
		bus, err := harness.FreePort()
		if err != nil {
			t.Fatalf("a port for the cluster bus: %v", err)
		}
		all = append(all, Start(t,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", nodeTimeout, "--cluster-require-full-coverage", "no"))
	}
	args := []string{"--cluster", "create"}
	for _, s := range all {
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := &Cluster{}
	deadline := time.Now().Add(StartTimeout)
	for !c.ready(all, replicas) {
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready within %v", StartTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling: the nodes gossip until they agree
	}
	return c
}

// ready reports whether every node sees the whole cluster, with every
// slot assigned (and, with replicas, every master's replica in sync),
// and sorts all into c's masters and replicas.
func (c *Cluster) ready(all []*Server, replicas int) bool {
	c.Masters, c.Replicas = nil, nil
	for _, m := range all {
		info, err := String(m.Do("CLUSTER", "INFO"))
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(all))) {
			return false
		}
		slots, err := m.Do("CLUSTER", "SLOTS")
		if err != nil {
			return false
		}
		s, ok := slots.([]any)
		if !ok || len(s) != 3 {
			return false
		}
		for _, r := range s {
			if rng, ok := r.([]any); !ok || len(rng) != 3+replicas {
				return false
			}
		}
		repl, err := String(m.Do("INFO", "replication"))
		switch {
		case err != nil:
			return false
		case strings.Contains(repl, "role:master"):
			c.Masters = append(c.Masters, m)
		case strings.Contains(repl, "master_link_status:up"):
			c.Replicas = append(c.Replicas, m)
		default:
			return false
		}
	}
	return len(c.Masters) == 3
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
	return c.serverOf(t, key, 0, c.Masters)
}

// ReplicaOf returns the replica of the master that serves key's slot
// (of a cluster started with replicas).
func (c *Cluster) ReplicaOf(t testing.TB, key string) *Server {
	t.Helper()
	return c.serverOf(t, key, 1, c.Replicas)
}

// serverOf returns the server of among that CLUSTER SLOTS lists at index
// i (0 the master, 1 its first replica) for key's slot.
func (c *Cluster) serverOf(t testing.TB, key string, i int, among []*Server) *Server {
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
		if lo <= slot.(int64) && slot.(int64) <= hi && len(rng) > 2+i {
			port := rng[2+i].([]any)[1].(int64)
			for _, s := range among {
				if s.Port() == int(port) {
					return s
				}
			}
		}
	}
	t.Fatalf("no server %d for slot %v", i, slot)
	return nil
}
