package fanout

import (
	"context"
	"fmt"
	"reflect"
	"sync"
)

// localEngine is the in-process Engine: one log, kept by a ReplayStore (or
// none), delivered to the one Feed of this process.
//
// Publishes do their store I/O concurrently, outside any lock; only the
// hand-over to the Feed is serialized, in offset order. A message whose
// Append completed before that of an earlier offset waits (in pending)
// until the earlier one is delivered.
type localEngine struct {
	store ReplayStore // nil: no history, no positions
	feed  Feed

	mu       sync.Mutex
	last     Position            // the last position handed to the feed
	known    bool                // last is the store's head (or was delivered)
	inflight int                 // Appends in progress
	pending  map[uint64]*Message // appended, waiting for an earlier offset
	owner    bool                // Start claimed store: Close releases it, unless another engine took it
	replaced bool                // another engine took store over: Publish fails
}

var _ Engine = (*localEngine)(nil)

// NewLocalEngine returns the in-process Engine over store (nil: no
// history, so no replay and no positions). It is what a Hub or Broker
// uses when HubOptions.Engine (BrokerOptions.Engine) is not set; it is
// exported for the conformance suite (package enginetest) and for
// applications that wrap it. Like every engine, it serves one Hub; and a
// store serves one engine at a time: an engine started over a store that
// another serves takes it over, and the other's Publish fails from then
// on (see HubOptions.Replay).
//
// All topics share one log: every subscriber receives messages in one
// order, and a client subscribed to several topics resumes all of them
// from one ID. The store's Appends run concurrently (none waits for
// another's I/O); the messages reach subscribers in offset order.
func NewLocalEngine(store ReplayStore) Engine { return &localEngine{store: store} }

func (e *localEngine) Start(feed Feed) {
	e.mu.Lock()
	if e.feed != nil {
		e.mu.Unlock()
		panic("fanout: an Engine serves one Hub or Broker")
	}
	e.feed = feed
	var prev any
	if e.store != nil && reflect.TypeOf(e.store).Comparable() {
		prev, _ = claimed.Swap(e.store, e)
		e.owner = true
	}
	e.mu.Unlock()
	if prev, ok := prev.(*localEngine); ok {
		prev.mu.Lock()
		prev.replaced = true
		prev.mu.Unlock()
	}
}

// claimed holds, for each ReplayStore that an in-process engine serves
// (each whose type can be a map key: every pointer), the engine that
// serves it, from its Start to its Close. Two engines publishing over one
// store would share its log but not their feeds: each would deliver its
// own publishes live and the other's late (when filling the gaps they
// leave in its offsets), or never, to subscribers whose feed had not
// started. So the store serves one engine at a time: the last started
// takes it over, as a Hub that replaces another does (a restart over a
// persistent store, a blue/green switch), and the one it replaced fails
// its publishes, loudly, from then on.
var claimed sync.Map // ReplayStore → *localEngine

// errReplaced is why the Publish of a Hub (or Broker) whose ReplayStore
// another took over fails.
var errReplaced = fmt.Errorf("%w: its ReplayStore serves another Hub or Broker now", ErrClosed)

// learnHead makes sure e.last is the store's head before the first
// delivery, so that a persistent store's earlier offsets are not taken
// for missing, and concurrent first Appends are still delivered in order.
func (e *localEngine) learnHead(ctx context.Context) error {
	e.mu.Lock()
	known := e.known
	e.mu.Unlock()
	if known {
		return nil
	}
	head, err := e.store.Head(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if !e.known {
		e.last, e.known = head, true
	}
	e.mu.Unlock()
	return nil
}

func (e *localEngine) Publish(ctx context.Context, topic string, m *Message) error {
	if e.store == nil {
		e.feed.Deliver(topic, m) // the Feed serializes fan-out itself
		return nil
	}
	if err := e.learnHead(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	if e.replaced {
		e.mu.Unlock()
		return errReplaced
	}
	e.inflight++
	e.mu.Unlock()
	sm, err := e.store.Append(ctx, topic, m)

	e.mu.Lock()
	defer e.mu.Unlock()
	e.inflight--
	if err != nil {
		e.release()
		return err
	}
	pos := sm.pos
	switch {
	case !pos.SameLog(e.last):
		// A new epoch (the store lost its history): what was pending
		// belongs to the old one and goes first; the Feed resyncs.
		e.flushPending()
		e.deliver(topic, sm)
	case pos.Offset == e.last.Offset+1:
		e.deliver(topic, sm)
		e.drain()
	case pos.Offset > e.last.Offset+1:
		if e.pending == nil {
			e.pending = make(map[uint64]*Message)
		}
		e.pending[pos.Offset] = sm
		e.release()
	default: // a store that reused an offset: the Feed drops the duplicate
		e.deliver(topic, sm)
	}
	return nil
}

// deliver hands sm to the feed; e.mu is held.
func (e *localEngine) deliver(topic string, sm *Message) {
	e.feed.Deliver(topic, sm)
	e.last = sm.pos
}

// drain delivers the pending messages that now follow e.last; e.mu is held.
func (e *localEngine) drain() {
	for len(e.pending) > 0 {
		sm, ok := e.pending[e.last.Offset+1]
		if !ok {
			e.release()
			return
		}
		delete(e.pending, sm.pos.Offset)
		e.deliver(sm.topic, sm)
	}
}

// release delivers what is pending, gaps and all, once no Append is in
// progress that could fill them: a store that skipped an offset must not
// stall delivery (the Feed resyncs the gap). e.mu is held.
func (e *localEngine) release() {
	if e.inflight == 0 && len(e.pending) > 0 {
		e.flushPending()
	}
}

// flushPending delivers every pending message in offset order; e.mu is
// held.
func (e *localEngine) flushPending() {
	for len(e.pending) > 0 {
		var first *Message
		for _, sm := range e.pending {
			if first == nil || sm.pos.Offset < first.pos.Offset {
				first = sm
			}
		}
		delete(e.pending, first.pos.Offset)
		e.deliver(first.topic, first)
	}
}

func (e *localEngine) Subscribe(context.Context, []string) error { return nil }

func (e *localEngine) Unsubscribe([]string) {}

func (e *localEngine) Read(ctx context.Context, from Position, topics []string) ([]*Message, Position, error) {
	if e.store == nil {
		return nil, Position{}, errNoHistory
	}
	return e.store.Read(ctx, from, topics)
}

func (e *localEngine) Partition(string) int { return 0 }

func (e *localEngine) Head(ctx context.Context, _ int) (Position, error) {
	if e.store == nil {
		return Position{}, nil
	}
	return e.store.Head(ctx)
}

// Close releases the store: another Hub or Broker may use it now.
func (e *localEngine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.owner {
		e.owner = false
		claimed.CompareAndDelete(e.store, e)
	}
	return nil
}

// hasHistory reports whether eng keeps history, so that subscribers get
// positions and can resume.
func hasHistory(eng Engine) bool {
	le, ok := eng.(*localEngine)
	return !ok || le.store != nil
}

var _ PageReader = (*localEngine)(nil)

// ReadPage reads a page from the store: with its ReadPage, or cut from a
// whole Read.
func (e *localEngine) ReadPage(ctx context.Context, from Position, topics []string, limit ReadLimit) ([]*Message, Position, error) {
	switch r := e.store.(type) {
	case nil:
		return nil, Position{}, errNoHistory
	case *Ring:
		return r.readPage(from, topics, limit)
	}
	return readPage(ctx, e.store, from, topics, limit)
}
