package fanout

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
)

// core is the transport-neutral part of a Hub (and of the SSE Broker): the
// topic registry, publishing, slow-subscriber policies, lifecycle and stats.
type core struct {
	opts    DeliveryOptions
	limits  Limits
	eng     Engine
	history bool          // the engine assigns positions: subscribers can resume
	formats atomic.Uint32 // the wire formats prepared per publish (formatWS, formatSSE)

	mu     sync.RWMutex
	topics map[string][]*Subscriber
	// topicSets holds the topics of each subscriber that has more than
	// topicSetMin, as a set (see join.go); nil until one has.
	topicSets map[*Subscriber]map[string]struct{}
	all       []*Subscriber            // receives broadcasts
	conns     map[*Subscriber]struct{} // every subscription not yet finished
	groups    map[string]int           // subscriptions not yet finished, per Grant.Group
	state     coreState
	wg        sync.WaitGroup // running subscriptions; Add under mu

	// pubs counts the publishes in progress (up under mu, while open),
	// plus pubsClosing once closing has begun (set under mu: no publish
	// begins after it). pubsDone is closed by whoever brings pubs to
	// exactly pubsClosing, which happens once: every waiter wakes.
	pubs     atomic.Int64
	pubsDone chan struct{}

	// fanMu serializes fan-out, so every subscriber observes messages in
	// one order. snap is the fan-out scratch list it guards.
	fanMu sync.Mutex
	snap  []*Subscriber

	parts sync.Map // partition (int) → *partFeed: what the feed delivered

	// ctx is the context of the core's own engine calls (filling a gap in
	// the feed); it ends when Close or Shutdown begins.
	ctx       context.Context
	cancelCtx context.CancelFunc
	engClose  sync.Once

	pollOnce sync.Once
	poll     *sock.Poller // watches idle subscribers' sockets (nil: none)

	ids   atomic.Uint64
	stats counters

	// ka[d] is set while a keepalive goroutine runs for the subscribers
	// whose keepalive interval is d. Guarded by mu.
	ka   map[time.Duration]bool
	kaWG sync.WaitGroup

	closing chan struct{} // closed when Close or Shutdown begins
}

type coreState uint8

const (
	stateOpen coreState = iota
	stateDraining
	stateClosed
)

// Wire formats a core prepares each message in.
const (
	formatWS uint32 = 1 << iota
	formatSSE
)

// newCore returns a core on eng (nil: the in-process engine over store)
// and starts the engine.
func newCore(opts DeliveryOptions, limits Limits, eng Engine, store ReplayStore, formats uint32) *core {
	if eng == nil {
		eng = NewLocalEngine(store)
	}
	c := &core{
		opts:     opts.withDefaults(),
		limits:   limits.withDefaults(),
		eng:      eng,
		groups:   make(map[string]int),
		history:  hasHistory(eng),
		topics:   make(map[string][]*Subscriber),
		conns:    make(map[*Subscriber]struct{}),
		ka:       make(map[time.Duration]bool),
		closing:  make(chan struct{}),
		pubsDone: make(chan struct{}),
	}
	c.ctx, c.cancelCtx = context.WithCancel(context.Background())
	c.formats.Store(formats)
	eng.Start((*coreFeed)(c))
	return c
}

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

// leave removes s from topic t; c.mu must be held. It reports whether s
// was subscribed to t: the caller then owes the engine an Unsubscribe.
func (c *core) leave(s *Subscriber, t string) bool {
	i := slices.Index(s.topics, t)
	if i < 0 {
		return false
	}
	s.topics = slices.Delete(s.topics, i, i+1)
	if set := c.topicSets[s]; set != nil {
		delete(set, t)
	}
	subs := c.topics[t]
	if len(subs) == 1 {
		delete(c.topics, t)
	} else {
		c.topics[t] = removeSub(subs, s)
	}
	return true
}

// detach removes s from every topic and the broadcast set. Idempotent.
func (c *core) detach(s *Subscriber) {
	c.mu.Lock()
	left := c.detachLocked(s)
	c.mu.Unlock()
	if len(left) > 0 {
		c.eng.Unsubscribe(left)
	}
}

// detachLocked removes s from every topic and the broadcast set, and
// returns the topics it left (for the engine's Unsubscribe, once c.mu is
// released); c.mu must be held.
func (c *core) detachLocked(s *Subscriber) []string {
	left := s.topics
	s.topics = nil
	delete(c.topicSets, s)
	s.left = append(s.left, left...)
	for _, t := range left {
		subs := c.topics[t]
		if len(subs) == 1 {
			delete(c.topics, t)
		} else {
			c.topics[t] = removeSub(subs, s)
		}
	}
	c.all = removeSub(c.all, s)
	return left
}

// keepalive marks the keepalive of every subscription whose interval is
// every as due, once per interval; each writer then pings (and detects a
// dead peer) itself. It exits when closing begins or no such subscription
// is left; add restarts it.
func (c *core) keepalive(every time.Duration) {
	defer c.kaWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		c.mu.Lock()
		n := 0
		for s := range c.conns {
			if s.kaEvery == every {
				n++
				s.pingDue.Store(true)
				s.signal()
			}
		}
		if n == 0 {
			delete(c.ka, every)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// finish releases a subscription that add accepted, once its writer and
// connection are done. It must be called exactly once.
func (c *core) finish(s *Subscriber) {
	c.mu.Lock()
	left := c.detachLocked(s)
	delete(c.conns, s)
	if s.group != "" {
		if c.groups[s.group]--; c.groups[s.group] <= 0 {
			delete(c.groups, s.group)
		}
	}
	c.mu.Unlock()
	if len(left) > 0 {
		c.eng.Unsubscribe(left)
	}
	close(s.done)
	c.wg.Done()
}

// live returns every subscription not yet finished, removed ones included.
func (c *core) live() []*Subscriber {
	c.mu.RLock()
	defer c.mu.RUnlock()
	subs := make([]*Subscriber, 0, len(c.conns))
	for s := range c.conns {
		subs = append(subs, s)
	}
	return subs
}

// removeSub removes s from subs by swapping the last element into its place.
func removeSub(subs []*Subscriber, s *Subscriber) []*Subscriber {
	i := slices.Index(subs, s)
	if i < 0 {
		return subs
	}
	last := len(subs) - 1
	subs[i] = subs[last]
	subs[last] = nil
	return subs[:last]
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
			s.enqueue(m)
		}
	}
	clear(c.snap) // let ended subscribers be collected
}

// subscribers returns a copy of the broadcast set.
func (c *core) subscribers() []*Subscriber {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.all)
}

func (c *core) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.all)
}

func (c *core) topicLen(t string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.topics[t])
}

// beginClose stops new subscriptions and publishes, and ends every
// subscriber: after draining its queue when drain is set, at once
// otherwise. Before it ends them, it waits (within ctx) for the publishes
// in progress, so that a Publish that returned nil is delivered (by
// Shutdown) or discarded (by Close) for all of them alike; one stuck in an
// engine's I/O does not hold it past ctx.
func (c *core) beginClose(ctx context.Context, drain bool) {
	c.mu.Lock()
	first := c.state == stateOpen
	switch {
	case first && drain:
		c.state = stateDraining
	default:
		c.state = stateClosed
	}
	if first {
		c.closePublishesLocked()
	}
	c.mu.Unlock()
	if first {
		close(c.closing)
		c.cancelCtx()
	}
	c.waitPublishes(ctx)
	subs := c.live()
	for _, s := range subs {
		if !drain {
			// Interrupt a write in progress. First, so that a writer that
			// ends now knows not to wait for a closing handshake.
			s.sink.abort()
		}
		s.end(endShutdown, drain)
	}
}

// recovered is deferred around a hook that runs on a goroutine the library
// owns: like net/http with a handler, it turns the hook's panic into a
// logged error (with the stack) that ends only the subscriber concerned.
func (c *core) recovered(hook string, s *Subscriber, err *error) {
	r := recover()
	if r == nil {
		return
	}
	c.opts.Logger.Error("fanout: panic in "+hook, "subscriber", s.id, "panic", r, "stack", string(debug.Stack()))
	e := fmt.Errorf("fanout: panic in %s: %v", hook, r)
	s.fail(endPanic, e)
	if err != nil {
		*err = e
	}
}

// isClosing reports whether Close or Shutdown has begun.
func (c *core) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// cut ends every remaining connection immediately. Idempotent.
func (c *core) cut() {
	for _, s := range c.live() {
		s.end(endShutdown, false)
		s.sink.abort()
		s.sink.kill()
	}
}

// wait waits for every subscription to end. When ctx ends first, it
// cuts the connections that remain, waits for them to end all the same,
// and returns ctx's error. The goroutine it waits with has exited when it
// returns.
func (c *core) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		c.cut()
		<-done
		return ctx.Err()
	}
}

// shutdown drains every subscriber, cutting what remains when ctx ends.
func (c *core) shutdown(ctx context.Context) error {
	c.beginClose(ctx, true)
	err := c.wait(ctx)
	c.markClosed()
	c.kaWG.Wait()
	return err
}

// close ends every subscriber without draining, cutting connections that
// do not finish their close within closeGrace.
func (c *core) close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	c.beginClose(ctx, false)
	_ = c.wait(ctx)
	c.markClosed()
	c.kaWG.Wait()
}

// markClosed records that every subscription has ended, and closes the
// engine.
func (c *core) markClosed() {
	c.mu.Lock()
	c.state = stateClosed
	c.mu.Unlock()
	c.closePoller()
	c.engClose.Do(func() {
		if err := c.eng.Close(); err != nil {
			c.opts.Logger.Warn("fanout: closing the engine", "err", err)
		}
	})
}

// closeGrace bounds how long Close waits for close frames to be written
// before it cuts connections.
const closeGrace = time.Second

// counters are the live values behind Stats.
type counters struct {
	published, delivered, dropped     atomic.Uint64
	batches, writes, bytes            atomic.Uint64
	slowRemoved, slowClosed, timeouts atomic.Uint64
	inboundDropped                    atomic.Uint64
}

// Stats is a snapshot of a Hub's (or Broker's) counters since it was made.
type Stats struct {
	Subscribers int    `json:"subscribers"` // current subscribers
	Published   uint64 `json:"published"`   // Publish, Broadcast and BroadcastFilter calls that were accepted
	Delivered   uint64 `json:"delivered"`   // messages written to subscribers' connections
	Dropped     uint64 `json:"dropped"`     // messages not delivered to a subscriber because it was slow
	Batches     uint64 `json:"batches"`     // batches written (one per writer wake-up and MaxBatch)
	Writes      uint64 `json:"writes"`      // socket writes that carried data (Delivered/Writes is the coalescing gain)
	Bytes       uint64 `json:"bytes"`       // bytes written for data, including framing
	Removed     uint64 `json:"removed"`     // subscribers removed by PolicyRemove
	Closed      uint64 `json:"closed"`      // subscribers closed by PolicyClose
	Timeouts    uint64 `json:"timeouts"`    // batch writes that exceeded WriteTimeout

	InboundDropped uint64 `json:"inboundDropped"` // client messages dropped for exceeding Limits.MessageRate
}

func (c *core) snapshot() Stats {
	return Stats{
		Subscribers: c.len(),
		Published:   c.stats.published.Load(),
		Delivered:   c.stats.delivered.Load(),
		Dropped:     c.stats.dropped.Load(),
		Batches:     c.stats.batches.Load(),
		Writes:      c.stats.writes.Load(),
		Bytes:       c.stats.bytes.Load(),
		Removed:     c.stats.slowRemoved.Load(),
		Closed:      c.stats.slowClosed.Load(),
		Timeouts:    c.stats.timeouts.Load(),

		InboundDropped: c.stats.inboundDropped.Load(),
	}
}
