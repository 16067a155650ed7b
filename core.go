package fanout

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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
	sparse  bool          // the engine's feed skips other topics' offsets (see SparseEngine)
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
	// one order. snap and starts are the fan-out scratch lists it guards.
	fanMu  sync.Mutex
	snap   []*Subscriber
	starts []*Subscriber // those whose writers a fan-out starts after its loop

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

	writers writerCache // on-demand writers, parked between drains
}

type coreState uint8

const (
	stateOpen coreState = iota
	stateDraining
	stateClosed
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
		sparse:   isSparse(eng),
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

// markClosed records that every subscription has ended, ends the parked
// writers, and closes the engine.
func (c *core) markClosed() {
	c.mu.Lock()
	c.state = stateClosed
	c.mu.Unlock()
	c.closePoller()
	c.writers.close()
	c.engClose.Do(func() {
		if err := c.eng.Close(); err != nil {
			c.opts.Logger.Warn("fanout: closing the engine", "err", err)
		}
	})
}

// startWriter runs drain on a parked writer, or a new one (see
// writerCache).
func (c *core) startWriter(drain func()) { c.writers.run(drain) }

// closeGrace bounds how long Close waits for close frames to be written
// before it cuts connections.
const closeGrace = time.Second

// poller returns the core's poller, starting it on first use, or nil
// where there is none (see internal/sock): subscribers then keep a
// reader goroutine each.
func (c *core) poller() *sock.Poller {
	c.pollOnce.Do(func() {
		p, err := sock.NewPoller()
		if err != nil {
			if !errors.Is(err, sock.ErrNoPoller) {
				c.opts.Logger.Warn("fanout: no poller for idle connections", "err", err)
			}
			return
		}
		c.poll = p
	})
	return c.poll
}

// closePoller stops the poller, once no subscription is left.
func (c *core) closePoller() {
	c.pollOnce.Do(func() {}) // none is started after this
	if c.poll != nil {
		c.poll.Close()
	}
}
