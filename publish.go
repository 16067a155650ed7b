package fanout

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Wire formats a core prepares each message in.
const (
	formatWS uint32 = 1 << iota
	formatSSE
)

// prepare builds m's encodings for the core's wire formats, once, before
// fan-out, so that subscribers' writers only read them.
func (c *core) prepare(m *Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	f := c.formats.Load()
	if f&formatWS != 0 {
		m.wsFrame()
	}
	if f&formatSSE != 0 {
		if _, err := m.sseEvent(); err != nil {
			return err
		}
	}
	return nil
}

// checkSize refuses a message over Limits.MaxMessageSize: once per
// publish, before the engine, so that no engine stores it.
func (c *core) checkSize(m *Message) error {
	if max := c.limits.MaxMessageSize; max > 0 && len(m.data) > max {
		return fmt.Errorf("%w: %d bytes, over Limits.MaxMessageSize (%d)", ErrTooLarge, len(m.data), max)
	}
	return nil
}

// publish queues m for every subscriber of topic (every subscriber at all
// when broadcast is set) that passes filter. Unfiltered, it goes through
// the engine, which stores it and hands it back, with its position, to
// the feed (coreFeed.Deliver) of this core and of every other that shares
// the engine. No lock is held across the engine's I/O.
func (c *core) publish(ctx context.Context, topic string, broadcast bool, m *Message, filter func(*Subscriber) bool) error {
	if m == nil {
		return fmt.Errorf("fanout: publish of a nil message")
	}
	if !broadcast && topic == "" {
		return fmt.Errorf("publish: %w", ErrInvalidTopic)
	}
	// Before any lock. The check is cached in m (and copied to its copies).
	// With history, the stored copy is prepared when it is delivered.
	err := c.checkSize(m)
	if err == nil {
		err = m.validate()
	}
	if err == nil && (!c.history || filter != nil) {
		if filter == nil && m.topic != topic && c.formats.Load()&formatWS != 0 {
			// No stored copy carries the topic: this one does, for the
			// v2 WebSocket records (ResumeSubprotocolV2).
			m = m.onTopic(topic)
		}
		err = c.prepare(m)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if c.opts.Policy == PolicyBlock {
		if err := c.waitForRoom(ctx, topic, filter); err != nil {
			return fmt.Errorf("publish: waiting for room in a subscriber's queue: %w", err)
		}
	}
	if !c.beginPublish() {
		return ErrClosed
	}
	defer c.endPublish()
	if filter != nil {
		// A filtered broadcast is a decision about this process's
		// subscribers of the moment: it is not stored, nor sent to other
		// processes.
		c.fanout("", m, filter)
	} else if err := c.eng.Publish(ctx, topic, m); err != nil {
		return fmt.Errorf("publish: engine: %w", err)
	}
	c.stats.published.Add(1)
	return nil
}

// beginPublish counts a publish in progress, unless closing has begun.
func (c *core) beginPublish() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.state != stateOpen {
		return false
	}
	c.pubs.Add(1)
	return true
}

// endPublish ends what beginPublish began.
func (c *core) endPublish() {
	if c.pubs.Add(-1) == pubsClosing {
		close(c.pubsDone) // the last publish in progress when closing began
	}
}

// pubsClosing is added to core.pubs when closing begins: far above any
// count of publishes in progress.
const pubsClosing = 1 << 62

// closePublishesLocked records that closing has begun, so that the end of
// the last publish in progress closes pubsDone (or closes it now, when
// none is). c.mu is held: no publish begins meanwhile, nor after.
func (c *core) closePublishesLocked() {
	if c.pubs.Add(pubsClosing) == pubsClosing {
		close(c.pubsDone)
	}
}

// waitPublishes waits for the publishes in progress when closing began, or
// for ctx. Closing has begun: no publish starts any more. Any number of
// callers may wait together: the end of the last publish wakes them all.
func (c *core) waitPublishes(ctx context.Context) {
	select {
	case <-c.pubsDone:
	case <-ctx.Done():
	}
}

// fanout queues m for every local subscriber of topic (every subscriber,
// for topic "") that passes filter.
//
// The writers it needs start after the loop, not as each subscriber gets
// m: a writer started (or woken) is a runnable goroutine, and a loop over
// thousands of subscribers outlasts the scheduler's time slice (10 ms),
// after which the publishing goroutine was preempted and queued behind
// the writers it had readied: a Broadcast to 19,500 subscribers spent
// two thirds of its 127 ms waiting for a P (a runtime/trace of bench's
// -scale run: bench/results/broadcast-scaling.txt). More than
// fanoutInline writers start on a goroutine of the writer cache instead,
// so that the call costs the same per subscriber at any size.
func (c *core) fanout(topic string, m *Message, filter func(*Subscriber) bool) {
	c.fanMu.Lock()
	defer c.fanMu.Unlock()
	c.mu.RLock()
	if topic == "" {
		c.snap = append(c.snap[:0], c.all...)
	} else {
		c.snap = append(c.snap[:0], c.topics[topic]...)
	}
	c.mu.RUnlock()
	broadcast := topic == "" && !m.pos.IsZero()
	for _, s := range c.snap {
		if broadcast && s.home != m.pos.Partition {
			continue // it gets the copy stored in its own partition
		}
		if filter == nil || filter(s) {
			if _, start := s.put(m); start {
				c.starts = append(c.starts, s)
			}
		}
	}
	clear(c.snap) // let ended subscribers be collected
	if len(c.starts) > fanoutInline {
		ss := slices.Clone(c.starts)
		c.writers.spawn(func() { startWriters(ss) })
	} else {
		startWriters(c.starts)
	}
	clear(c.starts)
	c.starts = c.starts[:0]
}

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
	case m.pos.Offset > last.Offset+1 && !c.sparse:
		c.fill(pf, m.pos) // a SparseEngine's skips are other topics' messages
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
		if s.enqueue(m) == enqueued {
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

// With PolicyBlock, a publish waits for room in the queues it would fill,
// before it is handed to the engine: nothing is stored or delivered until
// every blocking subscriber of its topic can take it, so a Publish that
// gives up (its context ended) has reached no one. The wait holds no lock,
// so publishes to other topics go on meanwhile.
//
// Concurrent publishers that saw room at once may each add a message: a
// queue can pass QueueSize by that many. Messages that do not wait (from
// other processes through a distributed engine, Subscriber.Send) can pass
// it too, up to twice QueueSize (and QueueBytes), where the subscriber is
// closed as PolicyClose would.

// waitForRoom blocks until every subscriber of topic (every subscriber,
// for a broadcast) that passes filter has room in its queue, or ctx ends,
// or closing begins.
func (c *core) waitForRoom(ctx context.Context, topic string, filter func(*Subscriber) bool) error {
	for {
		s := c.fullSubscriber(topic, filter)
		if s == nil {
			return nil
		}
		room := s.roomSignal()
		if room == nil {
			continue // it took a batch meanwhile
		}
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closing:
			return ErrClosed
		}
	}
}

// fullSubscriber returns a subscriber of topic (of any, for "") that passes
// filter and whose queue is full, or nil.
func (c *core) fullSubscriber(topic string, filter func(*Subscriber) bool) *Subscriber {
	c.mu.RLock()
	defer c.mu.RUnlock()
	subs := c.all
	if topic != "" {
		subs = c.topics[topic]
	}
	for _, s := range subs {
		if s.isFull() && (filter == nil || filter(s)) {
			return s
		}
	}
	return nil
}

// send queues m for s alone (Subscriber.Send).
func (c *core) send(s *Subscriber, m *Message) error {
	if m == nil {
		return fmt.Errorf("fanout: send of a nil message")
	}
	if c.isClosing() {
		return ErrClosed
	}
	if err := c.checkSize(m); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := c.prepare(m); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	switch s.enqueue(m) {
	case enqueued:
		return nil
	case queueFull:
		return ErrQueueFull
	default:
		return ErrNotSubscribed
	}
}
