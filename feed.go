package fanout

import (
	"fmt"
	"slices"
	"sync"
)

// coreFeed is the Feed a core hands its engine: Deliver checks each
// stored message's position against what its partition delivered last,
// then fans it out.
type coreFeed core

var _ Feed = (*coreFeed)(nil)

// partFeed is what the feed delivered of one partition.
type partFeed struct {
	mu   sync.Mutex // one delivery (and gap fill) at a time
	last Position   // the last position fanned out
}

func (f *coreFeed) Deliver(topic string, m *Message) {
	c := (*core)(f)
	if m.pos.IsZero() { // an engine without history
		c.deliver(topic, m)
		return
	}
	v, ok := c.parts.Load(m.pos.Partition)
	if !ok {
		v, _ = c.parts.LoadOrStore(m.pos.Partition, new(partFeed))
	}
	pf := v.(*partFeed)
	pf.mu.Lock()
	defer pf.mu.Unlock()
	last := pf.last
	switch {
	case last.IsZero():
		// The first message of this partition: nothing to compare with.
		// (An engine starts its feed where its history is, so that it
		// can tell a message lost before this one.)
	case m.pos.Epoch != last.Epoch:
		// The engine's history was lost: what happened between last and
		// m cannot be told.
		c.resyncAll(last, fmt.Errorf("%w: the engine's history was reset (epoch %s, then %s)", ErrUnknownID, last.Epoch, m.pos.Epoch))
	case m.pos.Offset <= last.Offset:
		return // delivered already
	case m.pos.Offset > last.Offset+1:
		c.fill(pf, m.pos)
	}
	pf.last = m.pos
	c.deliver(topic, m)
}

// Reset forgets what partition delivered last and resyncs its
// subscribers (see Feed.Reset).
func (f *coreFeed) Reset(partition int, err error) {
	c := (*core)(f)
	last := Position{Partition: partition}
	if v, ok := c.parts.Load(partition); ok {
		pf := v.(*partFeed)
		pf.mu.Lock()
		defer pf.mu.Unlock()
		if !pf.last.IsZero() {
			last = pf.last
		}
		pf.last = Position{}
	}
	c.resyncAll(last, err)
}

// fill delivers what the feed skipped between pf.last and next, read from
// the engine's history, or resyncs the partition's subscribers when that
// fails. pf.mu is held: the partition's deliveries wait, as they must,
// but nothing else does.
func (c *core) fill(pf *partFeed, next Position) {
	msgs, upTo, err := c.eng.Read(c.ctx, pf.last, c.topicNames())
	if err == nil && upTo.SameLog(pf.last) && upTo.Offset+1 >= next.Offset {
		// The history holds everything up to next: what it returned is
		// what this process follows; the offsets it skipped are other
		// topics', not lost.
		for _, m := range msgs {
			if m.pos.Offset >= next.Offset {
				break
			}
			if pf.last.Before(m.pos) {
				pf.last = m.pos
				c.deliver(m.topic, m)
			}
		}
		return
	}
	if err == nil {
		err = fmt.Errorf("%w: the history ends at %s, before %s", ErrUnknownID, upTo.ID(), next.ID())
	}
	c.opts.Logger.Warn("fanout: messages lost by the engine", "partition", next.Partition, "after", pf.last.ID(), "before", next.ID(), "err", err)
	c.resyncAll(pf.last, err)
}

// deliver prepares a delivered message and fans it out.
func (c *core) deliver(topic string, m *Message) {
	if err := c.prepare(m); err != nil {
		c.opts.Logger.Warn("fanout: the engine delivered a message that cannot be sent", "id", m.id, "err", err)
		return
	}
	c.fanout(topic, m, nil)
}

// topicNames returns the topics that have local subscribers.
func (c *core) topicNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.topics))
	for t := range c.topics {
		names = append(names, t)
	}
	return names
}

// resyncAll sends the resync signal to every subscriber whose stream
// follows last's partition (its broadcasts, or one of its topics): what
// followed last cannot be told.
func (c *core) resyncAll(last Position, err error) {
	p := last.Partition
	var targets []*Subscriber
	c.mu.RLock()
	for _, s := range c.all {
		if s.home == p || slices.ContainsFunc(s.topics, func(t string) bool { return c.eng.Partition(t) == p }) {
			targets = append(targets, s)
		}
	}
	c.mu.RUnlock()
	m := resyncSignal(ResyncLost)
	_ = c.prepare(m)
	sent := 0
	c.fanMu.Lock()
	for _, s := range targets {
		if s.enqueue(m) == queued {
			sent++
		}
	}
	c.fanMu.Unlock()
	if o := c.opts.Observer; o != nil {
		o.Resynced(Resync{Reason: ResyncLost, Subscribers: sent, Err: err})
	}
	for _, s := range targets {
		if s.hooks.onResync != nil {
			s.hooks.onResync(s, last.ID(), err)
		}
	}
}
