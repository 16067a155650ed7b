package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// Two faults in which Redis keeps its keys but loses the tail of the
// history: the partition's head goes back in the same epoch. The engine
// must then start a new epoch (every client resyncs), never hand the
// lost offsets out again as if they followed the old ones.

// rollback SAVEs, lets the publishers go on for hold, then SIGKILLs
// redis-server and restarts it from that dump: what was published after
// the SAVE is gone (Redis with RDB snapshots, or an AOF with appendfsync
// everysec, that crashes).
func (f *faults) rollback(hold time.Duration) (string, error) {
	s := f.r.redis
	if _, err := s.do("SAVE"); err != nil {
		return "", fmt.Errorf("SAVE: %w", err)
	}
	saved := s.head() // a few publishes may come between SAVE and this
	time.Sleep(hold)  // the publishers go on
	before := s.head()
	if err := s.restart(200*time.Millisecond, true); err != nil {
		return "", err
	}
	// The nodes write as soon as it is up: by now their first write has
	// started a new epoch.
	return fmt.Sprintf("SAVE at about %s, %v later at %s redis-server SIGKILLed and restarted from that dump; a moment later: %s",
		saved, hold.Round(time.Second), before, s.head()), nil
}

// failover starts a replica whose replication link is delayed by lag,
// lets it follow for hold, SIGKILLs the primary, promotes the replica
// (REPLICAOF NO ONE) and moves every cluster node's proxy to it: what
// the replica had not received is gone (a failover to a lagging
// replica). The replica then is the soak's redis-server.
func (f *faults) failover(lag, hold time.Duration) (string, error) {
	r := f.r
	link, err := harness.StartProxy(r.redis.addr())
	if err != nil {
		return "", err
	}
	defer link.Close()
	host, port, _ := strings.Cut(link.Addr(), ":")
	// A primary made a replica by command, not by a --replicaof option:
	// the redis-restart fault that may follow restarts it with the
	// options it was started with, and must bring back a primary (empty,
	// writable), not a read-only replica of this link, gone by then.
	replica, err := startRedis()
	if err != nil {
		return "", fmt.Errorf("starting the replica: %w", err)
	}
	if _, err := replica.do("REPLICAOF", host, port); err != nil {
		replica.stop()
		return "", fmt.Errorf("making it a replica: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := replica.do("INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			replica.stop()
			return "", fmt.Errorf("the replica did not sync within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling: the replica gives no signal
	}
	link.SetDelay(lag)
	time.Sleep(hold) // the publishers go on; the replica follows lag behind
	before := r.redis.head()
	r.redis.kill()
	if _, err := replica.do("REPLICAOF", "NO", "ONE"); err != nil {
		replica.stop()
		return "", fmt.Errorf("promoting the replica: %w", err)
	}
	promoted := replica.head() // no node reaches it yet
	for _, n := range r.cluster.nodes {
		if n.proxy != nil {
			n.proxy.SetTarget(replica.addr())
			n.proxy.CutAll()
		}
	}
	r.redis.become(replica)
	return fmt.Sprintf("a replica %v behind (its link delayed) promoted after %v, the primary SIGKILLed at %s; the replica had %s",
		lag, hold.Round(time.Second), before, promoted), nil
}
