//go:build linux

package harness

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ClusterSlots is how many hash slots a Redis Cluster has.
const ClusterSlots = 16384

// ClusterOptions configures StartCluster.
type ClusterOptions struct {
	// Masters is how many masters the cluster has, each serving an equal
	// range of the slots. Defaults to 3, the fewest a Cluster is meant
	// to run with.
	Masters int
	// NodeTimeout is the nodes' cluster-node-timeout: how long a node
	// may not answer before the others deem it failing. Defaults to 5s.
	NodeTimeout time.Duration
	// Args are more command-line options for every node, after the
	// cluster's. None by default.
	Args []string
}

// RedisCluster is a Redis Cluster of masters without replicas, each a
// RedisServer (see StartRedis) with its cluster bus on a free port of its
// own, killed with the process that started it.
type RedisCluster struct {
	// Masters are the cluster's nodes, Masters[i] serving the i-th range
	// of the slots.
	Masters []*RedisServer
}

// StartCluster starts a cluster of o.Masters redis-server processes
// (--cluster-enabled yes), gives each its range of the slots (CLUSTER
// ADDSLOTSRANGE), introduces them to one another (CLUSTER MEET), and
// waits, within RedisStartTimeout, until every node reports
// cluster_state:ok and sees every node and every slot. Stop stops it.
// It needs redis-server 7.0 or later only (not redis-cli).
func StartCluster(o ClusterOptions) (*RedisCluster, error) {
	n := o.Masters
	if n <= 0 {
		n = 3
	}
	timeout := o.NodeTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	c := &RedisCluster{}
	buses := make([]int, n)
	for i := range n {
		s, err := StartRedis(RedisOptions{
			// The bus is on a free port of its own: port+10000, Redis's
			// default, can be taken, or beyond 65535.
			Conf: func(int) string {
				buses[i], _ = FreePort() // 0 on error: Redis's default
				return "cluster-port " + strconv.Itoa(buses[i]) + "\n"
			},
			Args: append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10)}, o.Args...),
		})
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("cluster node %d: %w", i, err)
		}
		if buses[i] == 0 {
			buses[i] = s.Port() + 10000
		}
		c.Masters = append(c.Masters, s)
	}
	if err := c.form(buses); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// form assigns the slots, introduces the nodes and waits until they agree.
func (c *RedisCluster) form(buses []int) error {
	n := len(c.Masters)
	for i, s := range c.Masters {
		lo, hi := i*ClusterSlots/n, (i+1)*ClusterSlots/n-1
		if _, err := s.Do("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE %d %d: %w", lo, hi, err)
		}
		if i > 0 {
			if _, err := c.Masters[0].Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(s.Port()), strconv.Itoa(buses[i])); err != nil {
				return fmt.Errorf("CLUSTER MEET: %w", err)
			}
		}
	}
	deadline := time.Now().Add(RedisStartTimeout)
	var why error
	for {
		if why = c.agreed(); why == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster is not ready within %v: %w", RedisStartTimeout, why)
		}
		time.Sleep(20 * time.Millisecond) // polling: the nodes gossip until they agree
	}
}

// agreed returns nil once every node reports cluster_state:ok, knows
// every node, and sees every slot assigned, in one range per master.
func (c *RedisCluster) agreed() error {
	n := len(c.Masters)
	for _, s := range c.Masters {
		info, err := s.Text("CLUSTER", "INFO")
		if err != nil {
			return err
		}
		for _, want := range []string{"cluster_state:ok", "cluster_known_nodes:" + strconv.Itoa(n),
			"cluster_slots_assigned:" + strconv.Itoa(ClusterSlots)} {
			if !strings.Contains(info, want) {
				return fmt.Errorf("%s: no %s in CLUSTER INFO", s.Addr(), want)
			}
		}
		ranges, err := c.Slots(s)
		if err != nil {
			return err
		}
		if len(ranges) != n {
			return fmt.Errorf("%s: CLUSTER SLOTS has %d ranges, want %d", s.Addr(), len(ranges), n)
		}
	}
	return nil
}

// SlotRange is one range of slots of CLUSTER SLOTS and its master.
type SlotRange struct {
	Lo, Hi int
	Port   int // the master's
}

// Slots returns the ranges of slots that server s (one of c's nodes)
// says the masters serve, as CLUSTER SLOTS lists them.
func (c *RedisCluster) Slots(s *RedisServer) ([]SlotRange, error) {
	reply, err := s.Do("CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("CLUSTER SLOTS: reply %v", reply)
	}
	out := make([]SlotRange, 0, len(list))
	for _, r := range list {
		rng, ok := r.([]any)
		if !ok || len(rng) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: range %v", r)
		}
		lo, ok1 := rng[0].(int64)
		hi, ok2 := rng[1].(int64)
		node, ok3 := rng[2].([]any)
		if !ok1 || !ok2 || !ok3 || len(node) < 2 {
			return nil, fmt.Errorf("CLUSTER SLOTS: range %v", r)
		}
		port, ok := node[1].(int64)
		if !ok {
			return nil, fmt.Errorf("CLUSTER SLOTS: node %v", node)
		}
		out = append(out, SlotRange{Lo: int(lo), Hi: int(hi), Port: int(port)})
	}
	return out, nil
}

// Addrs returns the masters' addresses.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Masters))
	for i, s := range c.Masters {
		addrs[i] = s.Addr()
	}
	return addrs
}

// MasterOf returns the master that serves key's slot.
func (c *RedisCluster) MasterOf(key string) (*RedisServer, error) {
	reply, err := c.Masters[0].Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		return nil, err
	}
	slot, ok := reply.(int64)
	if !ok {
		return nil, fmt.Errorf("CLUSTER KEYSLOT: reply %v", reply)
	}
	ranges, err := c.Slots(c.Masters[0])
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		if int64(r.Lo) <= slot && slot <= int64(r.Hi) {
			for _, s := range c.Masters {
				if s.Port() == r.Port {
					return s, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("no master serves slot %v", slot)
}

// Each sends one command to every master (FLUSHALL, CONFIG RESETSTAT),
// within RedisStartTimeout each, and returns the first error.
func (c *RedisCluster) Each(args ...string) error {
	for _, s := range c.Masters {
		if _, err := s.Do(args...); err != nil {
			return fmt.Errorf("%s: %w", s.Addr(), err)
		}
	}
	return nil
}

// Stop stops every node (see RedisServer.Stop). Idempotent.
func (c *RedisCluster) Stop() {
	for _, s := range c.Masters {
		s.Stop()
	}
}
