package fanout_test

import (
	"testing"

	"context"
	"github.com/fanout-go/fanout/enginetest"
	"sync"

	"github.com/fanout-go/fanout"
)

// partEngine is an Engine of several partitions in one process, for the
// tests of subscribers whose topics span partitions (as the Redis
// engine's do on a Cluster): one Ring per partition, each with its own
// epoch. A topic maps to the partition parts names (0 when it names
// none); broadcasts, and a subscriber of no topic, to partition 0. A
// broadcast is stored in every partition, as the Redis engine stores it.
// Publishes are serialized, each delivered before the next is stored.
type partEngine struct {
	parts map[string]int
	size  int // each Ring's size (0: the default)

	mu    sync.Mutex
	rings []*fanout.Ring
	feed  fanout.Feed
}

var _ fanout.Engine = (*partEngine)(nil)

// newPartEngine returns a partEngine of n partitions whose Rings keep
// size messages each (0: the default).
func newPartEngine(n, size int, parts map[string]int) *partEngine {
	e := &partEngine{parts: parts, size: size}
	for range n {
		e.rings = append(e.rings, fanout.NewRing(&fanout.RingOptions{Size: size}))
	}
	return e
}

func (e *partEngine) Start(feed fanout.Feed) { e.feed = feed }

func (e *partEngine) Partition(topic string) int { return e.parts[topic] }

func (e *partEngine) Publish(ctx context.Context, topic string, m *fanout.Message) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if topic != "" {
		return e.publish(ctx, e.Partition(topic), topic, m)
	}
	for p := range e.rings {
		if err := e.publish(ctx, p, "", m); err != nil {
			return err
		}
	}
	return nil
}

// publish stores m in partition p and delivers it; e.mu is held.
func (e *partEngine) publish(ctx context.Context, p int, topic string, m *fanout.Message) error {
	sm, err := e.rings[p].Append(ctx, topic, m)
	if err != nil {
		return err
	}
	e.feed.Deliver(topic, m.Stored(topic, inPartition(sm.Position(), p)))
	return nil
}

// inPartition returns pos (a Ring's, of partition 0) in partition p.
func inPartition(pos fanout.Position, p int) fanout.Position {
	pos.Partition = p
	return pos
}

func (e *partEngine) ring(p int) *fanout.Ring {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rings[p]
}

// Read reads p's Ring (whole: the Hub cuts its pages from it).
func (e *partEngine) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	p := from.Partition
	if p < 0 || p >= len(e.rings) {
		return nil, fanout.Position{}, fanout.ErrUnknownID
	}
	msgs, upTo, err := e.ring(p).Read(ctx, inPartition(from, 0), topics)
	if err != nil {
		return nil, fanout.Position{}, err
	}
	out := make([]*fanout.Message, len(msgs))
	for i, m := range msgs {
		out[i] = m.Stored(m.Topic(), inPartition(m.Position(), p))
	}
	return out, inPartition(upTo, p), nil
}

func (e *partEngine) Head(ctx context.Context, p int) (fanout.Position, error) {
	head, err := e.ring(p).Head(ctx)
	return inPartition(head, p), err
}

// lose makes partition p lose its history: a new Ring, of a new epoch.
func (e *partEngine) lose(p int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rings[p] = fanout.NewRing(&fanout.RingOptions{Size: e.size})
}

func (e *partEngine) Subscribe(context.Context, []string) error { return nil }
func (e *partEngine) Unsubscribe([]string)                      {}
func (e *partEngine) Close() error                              { return nil }

// TestPartEngine_Conformance: the test engine of several partitions keeps
// the Engine contract (so what the tests over it show holds of the
// engines that do), and runs the suite's case of topics spread over
// partitions.
func TestPartEngine_Conformance(t *testing.T) {
	enginetest.Run(t, enginetest.Harness{
		New: func(*testing.T) func(*testing.T) fanout.Engine {
			return func(*testing.T) fanout.Engine {
				return newPartEngine(3, 64, map[string]int{"span1": 1, "span2": 2, "b": 1})
			}
		},
		Capacity: 64,
	})
}
