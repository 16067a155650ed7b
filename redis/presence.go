package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
)

// Presence across nodes. Each node writes its own members of a topic in
// a hash of its own, {prefix:p}:pmembers:<node>:<topic> (subscriber ID →
// "<transport>|<group>"), and lists itself in the topic's index,
// {prefix:p}:pnodes:<topic> (a sorted set: node → when its hash
// expires), both under the topic's partition's hash tag ({prefix:p.N}
// on a Cluster: see slots.go). Every one of
// these keys expires (Options.PresenceTTL after the node last wrote it),
// and a living node rewrites all of its own every third of PresenceTTL,
// from what it holds: a node that dies leaves nothing behind for longer
// than PresenceTTL, and whatever Redis lost or got back from a snapshot
// is set right. The node's heartbeat key, {prefix}:node:<node>, expires
// after three CheckIntervals: a reader skips the hashes of nodes whose
// heartbeat has expired, so a dead node's members disappear from
// Presence sooner than its keys do. See presence_sync.go for the writer.

var _ fanout.PresenceEngine = (*Engine)(nil)

// presence is a node's side of presence.
type presence struct {
	node string // this node's ID, in key names and in Member.Node

	mu      sync.Mutex
	ops     []presenceOp               // written in order by the loop
	queued  uint64                     // ops ever queued
	written uint64                     // ops written (or given up on)
	done    map[uint64][]chan struct{} // waiters for written to reach a count
	wake    chan struct{}              // one slot: ops queued
	running bool

	sync presenceSync // owned by the loop goroutine
}

type presenceOp struct {
	join          bool
	topic, member string // member: the subscriber ID
	value         string // "<transport>|<group>"; "" for a leave
}

func newPresence(node string) *presence {
	return &presence{node: node, done: map[uint64][]chan struct{}{}, wake: make(chan struct{}, 1),
		sync: presenceSync{topics: map[string]*presenceTopic{}}}
}

// presenceIndexKey names topic's index of nodes.
func (e *Engine) presenceIndexKey(topic string) string {
	return e.parts[e.Partition(topic)].tag + ":pnodes:" + topic
}

// presenceMembersKey names node's hash of its members of topic. Node IDs
// have a fixed length and no colon, so that no two (node, topic) pairs
// share a key.
func (e *Engine) presenceMembersKey(node, topic string) string {
	return e.parts[e.Partition(topic)].tag + ":pmembers:" + node + ":" + topic
}

func (e *Engine) nodeKey(node string) string {
	return fmt.Sprintf("{%s}:node:%s", e.opts.Prefix, node)
}

// Join implements fanout.PresenceEngine.
func (e *Engine) Join(topic string, m fanout.Member) {
	e.queuePresence(presenceOp{join: true, topic: topic,
		member: strconv.FormatUint(m.Subscriber, 10), value: m.Transport + "|" + m.Group})
}

// Leave implements fanout.PresenceEngine.
func (e *Engine) Leave(topic string, m fanout.Member) {
	e.queuePresence(presenceOp{topic: topic, member: strconv.FormatUint(m.Subscriber, 10)})
}

func (e *Engine) queuePresence(op presenceOp) {
	p := e.pres
	p.mu.Lock()
	p.ops = append(p.ops, op)
	p.queued++
	start := !p.running && e.startGoroutine()
	if start {
		p.running = true
	}
	p.mu.Unlock()
	if start {
		go e.presenceLoop()
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Presence implements fanout.PresenceEngine: the members of topic on every
// node, this one's joins and leaves so far included. It reads the topic's
// index, then (in one round trip) each listed node's hash and heartbeat.
func (e *Engine) Presence(ctx context.Context, topic string) ([]fanout.Member, error) {
	if err := e.presenceWritten(ctx); err != nil {
		return nil, err
	}
	nodes, err := e.client.Do(ctx, e.client.B().Zrange().Key(e.presenceIndexKey(topic)).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("fanout/redis: presence of %q: %w", topic, err)
	}
	if len(nodes) == 0 {
		return []fanout.Member{}, nil
	}
	cmds := make(rueidis.Commands, 0, 2*len(nodes))
	for _, n := range nodes {
		cmds = append(cmds, e.client.B().Hgetall().Key(e.presenceMembersKey(n, topic)).Build())
	}
	for _, n := range nodes {
		cmds = append(cmds, e.client.B().Exists().Key(e.nodeKey(n)).Build())
	}
	replies := e.client.DoMulti(ctx, cmds...)
	members := []fanout.Member{}
	for i, n := range nodes {
		alive, err := replies[len(nodes)+i].AsInt64()
		if err != nil {
			return nil, fmt.Errorf("fanout/redis: presence of %q: node heartbeat: %w", topic, err)
		}
		fields, err := replies[i].AsStrMap()
		if err != nil {
			return nil, fmt.Errorf("fanout/redis: presence of %q: %w", topic, err)
		}
		if alive == 0 && n != e.pres.node {
			continue // a node that died without a goodbye: its keys expire
		}
		for id, value := range fields {
			sub, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				continue
			}
			transport, group, _ := strings.Cut(value, "|")
			members = append(members, fanout.Member{Node: n, Subscriber: sub, Group: group, Transport: transport})
		}
	}
	return members, nil
}

// presenceWritten waits until what this node queued so far is written.
func (e *Engine) presenceWritten(ctx context.Context) error {
	p := e.pres
	p.mu.Lock()
	if p.written >= p.queued {
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	p.done[p.queued] = append(p.done[p.queued], ch)
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.ctx.Done():
		return fanout.ErrClosed
	}
}

// takeOps returns the ops queued since the last call.
func (p *presence) takeOps() []presenceOp {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.ops
	p.ops = nil
	return ops
}

// opsWritten counts n more ops written (or given up on), and wakes the
// waiters that were waiting for them.
func (p *presence) opsWritten(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written += uint64(n)
	for count, chs := range p.done {
		if count <= p.written {
			for _, ch := range chs {
				close(ch)
			}
			delete(p.done, count)
		}
	}
}

// closeWaiters wakes every waiter, on Close.
func (p *presence) closeWaiters() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, chs := range p.done {
		for _, ch := range chs {
			close(ch)
		}
	}
	p.done = map[uint64][]chan struct{}{}
}
