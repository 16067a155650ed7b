package fanout

import (
	"context"
)

// Engine is where a Hub's (or a standalone Broker's) messages are ordered,
// stored and distributed: the seam between the handlers, which hold the
// connections of one process, and whatever orders the messages of every
// process that shares it. A publish goes to the engine; the engine hands
// each process's local fan-out (its Feed) the stored messages, in order,
// with their positions; and it answers the history reads of resuming
// clients.
//
// The in-process engine (HubOptions.Replay, or NewLocalEngine) orders the
// messages of one process in one log. The Redis engine
// (github.com/fanout-go/fanout/redis) shares them between processes. The
// conformance suite in package enginetest checks an implementation.
//
// An engine serves one Hub (or one standalone Broker), which calls Start
// once, before anything else, and Close once, after its subscribers have
// ended. Every other method is called concurrently, from any goroutine;
// none is called while the Hub holds a lock that publishing or
// subscribing needs, so an engine may do I/O in any of them.
type Engine interface {
	// Start makes the engine hand feed every message published on it (by
	// this process or any other that shares it) from now until Close: see
	// Feed for the order. Start must not block on I/O; an engine that
	// cannot reach its backend delivers nothing until it can, and fails
	// Publish meanwhile.
	Start(feed Feed)

	// Publish stores m on topic ("" for a broadcast, which every
	// subscriber receives) and queues it for delivery through every
	// process's Feed, as a copy carrying its position (see
	// Message.Stored). Publish returns once the message is stored, or
	// fails with nothing stored; it may be called concurrently, and an
	// engine should not make one Publish wait for another's I/O. Messages
	// published on one topic by one goroutine, one after the other, are
	// delivered in that order.
	Publish(ctx context.Context, topic string, m *Message) error

	// Subscribe tells the engine that this process has a subscriber of
	// topics, so the Feed must carry them from now on: messages stored
	// after Subscribe returns are delivered. It is called for each
	// subscriber joining topics (distinct), once it is admitted and
	// before it joins them; Unsubscribe is called, with the same topics,
	// when it leaves them (or did not join them). An engine that
	// delivers every topic to every process ignores both.
	Subscribe(ctx context.Context, topics []string) error

	// Unsubscribe undoes one Subscribe of topics. It must not block.
	Unsubscribe(topics []string)

	// Partition returns the partition that topic maps to: the log whose
	// order it shares. Every topic maps to 0 in an engine with one
	// partition. For "", it returns the partition whose broadcasts reach
	// a subscriber of no topic. It must not block, and must always give
	// the same answer for the same topic.
	Partition(topic string) int

	// Read returns, in order, the stored messages after from (exclusive)
	// in from's partition that were published to any of topics or
	// broadcast (broadcasts only, for no topics; topics of other
	// partitions are ignored), and the position it read up to: the head
	// of the partition when it read, at or after the last message
	// returned. It fails with an error wrapping ErrUnknownID when what
	// followed from cannot be told: from is of another epoch (the history
	// was lost), ahead of the head, or older than the history kept.
	Read(ctx context.Context, from Position, topics []string) ([]*Message, Position, error)

	// Head returns the position of the last message stored in partition:
	// offset 0 and the current epoch for an empty log. A new subscriber
	// gets it as its starting position. It returns the zero Position
	// when the engine keeps no history.
	Head(ctx context.Context, partition int) (Position, error)

	// Close stops the engine's goroutines and releases what it holds,
	// but not what the application handed it (a Redis client, a
	// ReplayStore).
	Close() error
}

// Feed is the local fan-out of one Hub (or Broker), as its Engine sees it.
type Feed interface {
	// Deliver queues m for the local subscribers of topic. A broadcast
	// (topic "") reaches every subscriber whose topics map to m's
	// partition (see Engine.Partition): an engine with several
	// partitions stores a broadcast in each, so each subscriber gets it
	// once, in the order of its own partition. m is a message the engine
	// stored (m.Position() is set) or, for an engine without history,
	// one with no position.
	//
	// Calls for one partition must be made one at a time, in position
	// order. The Feed tolerates what a distributed engine cannot always
	// avoid: it drops a message whose position it has already delivered,
	// fills a skipped position from Engine.Read before delivering what
	// follows it, and sends the resync signal to the partition's
	// subscribers when that fails, or when the epoch changes (the
	// history was lost). A gap is never silent. Deliver may call
	// Engine.Read, on the calling goroutine. (A SparseEngine's skips are
	// not gaps: the Feed neither fills them nor calls Engine.Read.)
	Deliver(topic string, m *Message)

	// Reset tells the Feed that what followed the last message it was
	// given for partition cannot be told, when no message shows it: the
	// engine found that its backend lost the partition's history (Redis
	// restarted empty) or skipped messages it cannot read back, or it
	// stopped following the partition while no subscriber needed it.
	// The partition's subscribers get the resync signal (err says why),
	// and the next message of the partition is taken as a new start.
	// Calls for one partition are made one at a time with its Deliver
	// calls.
	Reset(partition int, err error)
}

// SparseEngine is implemented by an Engine whose Feed carries only the
// topics that this process subscribed to (Engine.Subscribe), and
// broadcasts: the positions it delivers in a partition skip the offsets
// of other topics' messages, so a skip is not a gap. Such an engine
// vouches for completeness itself: it finds what its transport lost
// (from its own history) and delivers it, in position order, or calls
// Feed.Reset. The Feed then checks only the epoch and the order of each
// partition's deliveries: it drops a message at or before the last
// position it delivered, sends the resync signal when the epoch changes,
// and never calls Engine.Read to fill a skip. A message of a topic the
// process subscribed to, stored after Subscribe returned, must still be
// delivered.
//
// The core asks SparseFeed once, when the Hub (or Broker) is made. The
// Redis engine is one: each node receives only its subscribers' topics,
// so that a message of a topic a node has no subscriber of costs it
// nothing.
type SparseEngine interface {
	Engine
	// SparseFeed reports whether the Feed is sparse, as described above.
	SparseFeed() bool
}

// isSparse reports whether eng's Feed is sparse (see SparseEngine).
func isSparse(eng Engine) bool {
	s, ok := eng.(SparseEngine)
	return ok && s.SparseFeed()
}

// MeasuredEngine is implemented by an Engine that measures itself: the
// Redis engine, say, how far its feed lags behind what was published and
// how often it recovered from a lost connection. Hub.EngineMetrics and
// Broker.EngineMetrics return what it measured, and the Prometheus
// collector (github.com/fanout-go/fanout/prometheus) exports it beside
// the Hub's own metrics, each as "fanout_engine_" + its Name.
//
// Metrics is called on every scrape, concurrently with everything else,
// from Start on (also after Close). It must not block on I/O: it reports
// what the engine last measured. It must report the same metrics every
// time (each Name with the same Help, kind and label names), with zero
// values until measured, so that a collector can describe them once.
type MeasuredEngine interface {
	Engine
	// Metrics returns the engine's current measurements. The caller
	// may keep the slice and its maps: return new ones each time.
	Metrics() []EngineMetric
}

// EngineMetric is one measurement of a MeasuredEngine: a counter or a
// gauge, named the Prometheus way.
type EngineMetric struct {
	// Name is the metric's name without a namespace, in snake case with
	// its unit in base units: "feed_lag_seconds". A counter's ends in
	// "_total": "recoveries_total".
	Name string
	// Help says what it measures, in one sentence.
	Help string
	// Counter reports a count that only grows (or restarts from zero when
	// the process does); otherwise the metric is a gauge.
	Counter bool
	// Labels tells apart the measurements of one Name (by partition, say:
	// {"partition": "3"}). Nil for none. Each measurement of one Name has
	// the same label names.
	Labels map[string]string
	// Value is the measurement.
	Value float64
}
