package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/redis/internal/script"
)

// A node's presence writer: one goroutine (presenceLoop) writes the
// node's joins and leaves in order, keeps its heartbeat, and converges
// Redis to what the node holds. It writes a topic whole (replacing the
// node's hash) when Redis may differ from it: after a write of the topic
// failed, after a heartbeat failed or found the node's heartbeat key
// gone (a reconnect, or Redis lost its data), and for every topic once
// every third of Options.PresenceTTL, which also keeps the keys from
// expiring. A topic the node no longer has members of is kept (empty)
// for PresenceTTL, so that those rewrites also delete its hash if Redis
// gets it back from a snapshot; after that, any copy Redis could restore
// has expired.

// presenceScript writes one node's members of one topic (see
// script.Presence); it holds no state of a client's.
var presenceScript = rueidis.NewLuaScript(script.Presence)

// presenceBatch is how many script calls one round trip carries.
const presenceBatch = 512

// presenceSync is the writer's state, owned by its goroutine.
type presenceSync struct {
	topics   map[string]*presenceTopic
	healthy  bool      // the last heartbeat succeeded
	rewrote  time.Time // when every topic was last rewritten
	rewrites int       // topics rewritten whole (for tests and stats)
}

// presenceTopic is what the node holds of one topic.
type presenceTopic struct {
	members map[string]string // subscriber ID → "<transport>|<group>"
	dirty   bool              // Redis may differ: rewrite it whole
	empty   time.Time         // when it lost its last member (zero while it has some)
}

// presenceLoop writes the node's joins and leaves in order, and keeps its
// heartbeat, until Close; then it removes the node's keys.
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
			e.rewriteDue()
		case <-e.ctx.Done():
			e.goodbye()
			return
		}
		if ops := p.takeOps(); len(ops) > 0 {
			e.writePresence(ops)
			p.opsWritten(len(ops))
		}
	}
}

// writePresence applies ops to the node's record and to Redis: one
// script call per topic, with the last value of each member it changed
// (or, for a topic that must be rewritten, all of its members). A topic
// whose write failed is rewritten whole later.
func (e *Engine) writePresence(ops []presenceOp) {
	s := &e.pres.sync
	now := time.Now()
	changes := map[string]map[string]string{}
	var order []string
	for _, op := range ops {
		t := s.topics[op.topic]
		if t == nil {
			t = &presenceTopic{members: map[string]string{}}
			s.topics[op.topic] = t
		}
		if op.join {
			t.members[op.member] = op.value
			t.empty = time.Time{}
		} else {
			delete(t.members, op.member)
			if len(t.members) == 0 && t.empty.IsZero() {
				t.empty = now
			}
		}
		c := changes[op.topic]
		if c == nil {
			c = map[string]string{}
			changes[op.topic] = c
			order = append(order, op.topic)
		}
		c[op.member] = op.value
	}
	for start := 0; start < len(order); start += presenceBatch {
		batch := order[start:min(start+presenceBatch, len(order))]
		execs := make([]rueidis.LuaExec, len(batch))
		for i, topic := range batch {
			if t := s.topics[topic]; t.dirty {
				execs[i] = e.presenceExec(topic, true, t.members)
			} else {
				execs[i] = e.presenceExec(topic, false, changes[topic])
			}
		}
		e.runPresence(batch, execs)
	}
}

// presenceExec is the script call that writes members of topic:
// replacing the node's hash with them, or updating it ("" deletes).
func (e *Engine) presenceExec(topic string, replace bool, members map[string]string) rueidis.LuaExec {
	args := make([]string, 0, 3+2*len(members))
	args = append(args, e.pres.node, strconv.FormatInt(e.opts.PresenceTTL.Milliseconds(), 10), "0")
	if replace {
		args[2] = "1"
	}
	for id, value := range members {
		args = append(args, id, value)
	}
	return rueidis.LuaExec{Keys: []string{e.presenceIndexKey(topic), e.presenceMembersKey(e.pres.node, topic)}, Args: args}
}

// runPresence runs the script calls execs (execs[i] writes topics[i])
// in one round trip, within PingTimeout; a topic whose call failed is
// marked for a rewrite, one whose call succeeded is clean.
func (e *Engine) runPresence(topics []string, execs []rueidis.LuaExec) {
	s := &e.pres.sync
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout)
	defer cancel()
	for i, r := range presenceScript.ExecMulti(ctx, e.client, execs...) {
		if t := s.topics[topics[i]]; t != nil {
			t.dirty = r.Error() != nil
		}
		if err := r.Error(); err != nil {
			e.setLastError(fmt.Errorf("presence: %w", err))
		}
	}
}

// heartbeat refreshes the node's heartbeat key. When Redis did not have
// it (it lost its data, or the node was cut off long enough for its keys
// to expire), or when the previous heartbeat failed (a reconnect: what
// failed meanwhile may have reached Redis or not), every topic is
// rewritten.
func (e *Engine) heartbeat() {
	s := &e.pres.sync
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout)
	defer cancel()
	err := e.client.Do(ctx, e.client.B().Set().Key(e.nodeKey(e.pres.node)).Value("1").Get().Px(3*e.opts.CheckInterval).Build()).Error()
	if err != nil && !rueidis.IsRedisNil(err) {
		s.healthy = false
		e.setLastError(fmt.Errorf("presence heartbeat: %w", err))
		return
	}
	if rueidis.IsRedisNil(err) || !s.healthy {
		for _, t := range s.topics {
			t.dirty = true
		}
	}
	s.healthy = true
}

// rewriteDue rewrites the topics marked for it, and every topic once a
// third of PresenceTTL has passed since the last time, in batches of
// presenceBatch script calls; it forgets the topics that have had no
// member for PresenceTTL and are written. Nothing is tried while the
// heartbeat fails.
func (e *Engine) rewriteDue() {
	s := &e.pres.sync
	if !s.healthy {
		return
	}
	now := time.Now()
	all := now.Sub(s.rewrote) >= e.opts.PresenceTTL/3
	if all {
		s.rewrote = now
	}
	var batch []string
	var execs []rueidis.LuaExec
	flush := func() {
		e.runPresence(batch, execs)
		s.rewrites += len(batch)
		batch, execs = batch[:0], execs[:0]
	}
	for topic, t := range s.topics {
		if !t.empty.IsZero() && !t.dirty && now.Sub(t.empty) >= e.opts.PresenceTTL {
			delete(s.topics, topic)
			continue
		}
		if !all && !t.dirty {
			continue
		}
		batch = append(batch, topic)
		execs = append(execs, e.presenceExec(topic, true, t.members))
		if len(batch) == presenceBatch {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// goodbye removes the node's keys, on Close.
func (e *Engine) goodbye() {
	s := &e.pres.sync
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.PingTimeout)
	defer cancel()
	e.client.Do(ctx, e.client.B().Del().Key(e.nodeKey(e.pres.node)).Build())
	var execs []rueidis.LuaExec
	for topic := range s.topics {
		execs = append(execs, e.presenceExec(topic, true, nil))
		if len(execs) == presenceBatch {
			presenceScript.ExecMulti(ctx, e.client, execs...)
			execs = execs[:0]
		}
	}
	if len(execs) > 0 {
		presenceScript.ExecMulti(ctx, e.client, execs...)
	}
	s.topics = map[string]*presenceTopic{}
	e.pres.closeWaiters()
}
