package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
)

// Presence across nodes. Each topic has a hash in Redis, under its
// partition's hash tag ({prefix:p}:presence:<topic>), with one field per
// subscriber of every node ("<node>|<subscriber ID>": "<transport>|<group>").
// A node writes its own joins and leaves there, in the background and in
// order (Join and Leave never block), and keeps a heartbeat key
// ({prefix}:node:<node>, expiring after three CheckIntervals) alive. A
// reader drops the fields of nodes whose heartbeat has expired (a node
// that died without saying goodbye), and a node whose heartbeat it finds
// missing (Redis lost its data) writes its members again. Close removes
// the node's fields and heartbeat.

var _ fanout.PresenceEngine = (*Engine)(nil)

// presence is a node's side of presence.
type presence struct {
	node string // this node's ID, in fields and in Member.Node

	mu      sync.Mutex
	ops     []presenceOp                 // written in order by the loop
	queued  uint64                       // ops ever queued
	written uint64                       // ops written (or given up on)
	members map[string]map[string]string // topic → field → value: what this node has in Redis
	done    map[uint64][]chan struct{}   // waiters for written to reach a count
	wake    chan struct{}                // one slot: ops queued
	running bool
}

type presenceOp struct {
	join         bool
	topic, field string
	value        string
}

func newPresence(node string) *presence {
	return &presence{node: node, members: map[string]map[string]string{},
		done: map[uint64][]chan struct{}{}, wake: make(chan struct{}, 1)}
}

func (e *Engine) presenceKey(topic string) string {
	return fmt.Sprintf("{%s:%d}:presence:%s", e.opts.Prefix, e.Partition(topic), topic)
}

func (e *Engine) nodeKey(node string) string {
	return fmt.Sprintf("{%s}:node:%s", e.opts.Prefix, node)
}

// Join implements fanout.PresenceEngine.
func (e *Engine) Join(topic string, m fanout.Member) {
	e.queuePresence(presenceOp{join: true, topic: topic,
		field: e.pres.node + "|" + strconv.FormatUint(m.Subscriber, 10), value: m.Transport + "|" + m.Group})
}

// Leave implements fanout.PresenceEngine.
func (e *Engine) Leave(topic string, m fanout.Member) {
	e.queuePresence(presenceOp{topic: topic, field: e.pres.node + "|" + strconv.FormatUint(m.Subscriber, 10)})
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
// node, this one's joins and leaves so far included.
func (e *Engine) Presence(ctx context.Context, topic string) ([]fanout.Member, error) {
	if err := e.presenceWritten(ctx); err != nil {
		return nil, err
	}
	key := e.presenceKey(topic)
	fields, err := e.client.Do(ctx, e.client.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		return nil, fmt.Errorf("fanout/redis: presence of %q: %w", topic, err)
	}
	alive, err := e.nodesAlive(ctx, fields)
	if err != nil {
		return nil, err
	}
	var dead []string
	members := make([]fanout.Member, 0, len(fields))
	for field, value := range fields {
		node, id, ok := strings.Cut(field, "|")
		n, perr := strconv.ParseUint(id, 10, 64)
		if !ok || perr != nil {
			continue
		}
		if !alive[node] {
			dead = append(dead, field)
			continue
		}
		transport, group, _ := strings.Cut(value, "|")
		members = append(members, fanout.Member{Node: node, Subscriber: n, Group: group, Transport: transport})
	}
	if len(dead) > 0 { // a node that died without saying goodbye
		_ = e.client.Do(ctx, e.client.B().Hdel().Key(key).Field(dead...).Build()).Error()
	}
	return members, nil
}

// nodesAlive tells which of the nodes named in fields have a live
// heartbeat.
func (e *Engine) nodesAlive(ctx context.Context, fields map[string]string) (map[string]bool, error) {
	alive := map[string]bool{e.pres.node: true}
	var nodes []string
	for field := range fields {
		node, _, _ := strings.Cut(field, "|")
		if _, seen := alive[node]; !seen {
			alive[node] = false
			nodes = append(nodes, node)
		}
	}
	if len(nodes) == 0 {
		return alive, nil
	}
	cmds := make(rueidis.Commands, len(nodes))
	for i, n := range nodes {
		cmds[i] = e.client.B().Exists().Key(e.nodeKey(n)).Build()
	}
	for i, r := range e.client.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, fmt.Errorf("fanout/redis: presence: node heartbeats: %w", err)
		}
		alive[nodes[i]] = n > 0
	}
	return alive, nil
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

// presenceLoop writes the node's joins and leaves in order, and keeps its
// heartbeat, until Close; then it removes the node's fields.
func (e *Engine) presenceLoop() {
	defer e.wg.Done()
	p := e.pres
	tick := time.NewTicker(e.opts.CheckInterval)
	defer tick.Stop()
	e.heartbeat()
	for {
		select {
		case <-p.wake:
		case <-tick.C:
			e.heartbeat()
		case <-e.ctx.Done():
			e.goodbye()
			return
		}
		p.mu.Lock()
		ops := p.ops
		p.ops = nil
		p.mu.Unlock()
		if len(ops) == 0 {
			continue
		}
		e.writePresence(ops)
		p.mu.Lock()
		p.written += uint64(len(ops))
		for n, chs := range p.done {
			if n <= p.written {
				for _, ch := range chs {
					close(ch)
				}
				delete(p.done, n)
			}
		}
		p.mu.Unlock()
	}
}

// writePresence applies ops to Redis and to the node's record of its
// members. A failed write is not retried here: the next heartbeat that
// finds Redis without the node's key writes every member again.
func (e *Engine) writePresence(ops []presenceOp) {
	p := e.pres
	cmds := make(rueidis.Commands, 0, len(ops))
	p.mu.Lock()
	for _, op := range ops {
		key := e.presenceKey(op.topic)
		m := p.members[op.topic]
		if op.join {
			if m == nil {
				m = map[string]string{}
				p.members[op.topic] = m
			}
			m[op.field] = op.value
			cmds = append(cmds, e.client.B().Hset().Key(key).FieldValue().FieldValue(op.field, op.value).Build())
		} else {
			delete(m, op.field)
			if len(m) == 0 {
				delete(p.members, op.topic)
			}
			cmds = append(cmds, e.client.B().Hdel().Key(key).Field(op.field).Build())
		}
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout)
	defer cancel()
	for _, r := range e.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			e.setLastError(fmt.Errorf("presence: %w", err))
		}
	}
}

// heartbeat refreshes the node's heartbeat key; when Redis did not have it
// (it lost its data, or this is the first one), it writes every member of
// the node again.
func (e *Engine) heartbeat() {
	p := e.pres
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout)
	defer cancel()
	ttl := 3 * e.opts.CheckInterval
	err := e.client.Do(ctx, e.client.B().Set().Key(e.nodeKey(p.node)).Value("1").Get().Px(ttl).Build()).Error()
	if !rueidis.IsRedisNil(err) {
		if err != nil {
			e.setLastError(fmt.Errorf("presence heartbeat: %w", err))
		}
		return
	}
	p.mu.Lock()
	var cmds rueidis.Commands
	for topic, m := range p.members {
		for field, value := range m {
			cmds = append(cmds, e.client.B().Hset().Key(e.presenceKey(topic)).FieldValue().FieldValue(field, value).Build())
		}
	}
	p.mu.Unlock()
	for _, r := range e.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			e.setLastError(fmt.Errorf("presence: %w", err))
		}
	}
}

// goodbye removes the node's fields and heartbeat, on Close.
func (e *Engine) goodbye() {
	p := e.pres
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.PingTimeout)
	defer cancel()
	p.mu.Lock()
	cmds := rueidis.Commands{e.client.B().Del().Key(e.nodeKey(p.node)).Build()}
	for topic, m := range p.members {
		for field := range m {
			cmds = append(cmds, e.client.B().Hdel().Key(e.presenceKey(topic)).Field(field).Build())
		}
	}
	p.members = map[string]map[string]string{}
	for _, chs := range p.done {
		for _, ch := range chs {
			close(ch)
		}
	}
	p.done = map[uint64][]chan struct{}{}
	p.mu.Unlock()
	e.client.DoMulti(ctx, cmds...)
}
