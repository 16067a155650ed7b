// Package enginetest is a conformance suite for implementations of
// fanout.Engine and fanout.ReplayStore, as testing/fstest is for file
// systems: an engine (the in-process one, the Redis one, your own) runs it
// from its own tests, and passes when it keeps the contract that a Hub
// relies on for exact resume: order, dense positions, history bounds,
// head, and concurrent use.
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, enginetest.Harness{
//			New: func(t *testing.T) func(t *testing.T) fanout.Engine {
//				backend := newBackend(t) // fresh and empty
//				return func(t *testing.T) fanout.Engine { return myengine.New(backend) }
//			},
//			Nodes:    3,
//			Capacity: 100,
//		})
//	}
package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// Harness describes the engine under test.
type Harness struct {
	// New prepares a fresh, empty backend (a new store, a flushed Redis
	// database) and returns a function that makes an engine on it: one
	// node. Each call of the returned function is another node sharing
	// the backend. Engines are started and closed by the suite.
	New func(t *testing.T) func(t *testing.T) fanout.Engine

	// Nodes is how many engines may share one backend: 1 (the default)
	// for an in-process engine. With more, the suite checks that every
	// node's feed carries every node's publishes, in one order.
	Nodes int

	// Capacity, if positive, is how many messages of one partition the
	// engine's history keeps at least, and at most this many plus what
	// it trims lazily (up to twice as many): the suite checks that a
	// position older than that is refused with ErrUnknownID.
	Capacity int

	// Timeout bounds each wait for a delivery. Defaults to 10s.
	Timeout time.Duration
}

// RunStore runs the suite on the in-process engine over the stores that
// newStore makes (fresh and empty each time), with their capacity (see
// Harness.Capacity).
func RunStore(t *testing.T, newStore func(t *testing.T) fanout.ReplayStore, capacity int) {
	Run(t, Harness{
		New: func(t *testing.T) func(t *testing.T) fanout.Engine {
			store := newStore(t)
			return func(*testing.T) fanout.Engine { return fanout.NewLocalEngine(store) }
		},
		Capacity: capacity,
	})
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Nodes <= 0 {
		h.Nodes = 1
	}
	if h.Timeout <= 0 {
		h.Timeout = 10 * time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"EmptyHead", testEmptyHead},
		{"OrderAndPositions", testOrderAndPositions},
		{"MessageFields", testMessageFields},
		{"Broadcast", testBroadcast},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"HeadFollowsPublishes", testHeadFollowsPublishes},
		{"ReadFiltersTopics", testReadFiltersTopics},
		{"ReadPages", testReadPages},
		{"ReadUnknownPositions", testReadUnknownPositions},
		{"ReadDuringPublishes", testReadDuringPublishes},
		{"HistoryBound", testHistoryBound},
		{"Nodes", testNodes},
		{"SubscribeThenPublish", testSubscribeThenPublish},
		{"Partitions", testPartitions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// node is a started engine and what its feed received.
type node struct {
	fanout.Engine
	feed *Recorder
}

// start makes and starts n nodes on one fresh backend, closed when t ends.
func start(t *testing.T, h Harness, n int) []*node {
	t.Helper()
	mk := h.New(t)
	nodes := make([]*node, n)
	for i := range nodes {
		e := mk(t)
		f := NewRecorder()
		e.Start(f)
		nodes[i] = &node{Engine: e, feed: f}
		t.Cleanup(func() {
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return nodes
}

func ctxFor(t *testing.T, h Harness) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, ctx context.Context, e fanout.Engine, topic, data string) {
	t.Helper()
	if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
		t.Fatalf("Publish(%q, %q): %v", topic, data, err)
	}
}

func subscribe(t *testing.T, ctx context.Context, e fanout.Engine, topics ...string) {
	t.Helper()
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatalf("Subscribe(%q): %v", topics, err)
	}
	t.Cleanup(func() { e.Unsubscribe(topics) })
}

// headOf returns the head of topic's partition on n.
func headOf(t *testing.T, ctx context.Context, n *node, topic string) fanout.Position {
	t.Helper()
	head, err := n.Head(ctx, n.Partition(topic))
	if err != nil {
		t.Fatalf("Head of %q's partition: %v", topic, err)
	}
	return head
}

// waitChange waits for changed (see Recorder.Changed) until deadline.
func waitChange(changed <-chan struct{}, deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	}
}
