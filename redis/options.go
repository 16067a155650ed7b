package redis

import (
	"log/slog"
	"time"
)

// Options configures an Engine. The zero value (or nil) is a good
// default for each field; New copies it and never changes the caller's.
type Options struct {
	// Prefix starts the name of every key and channel the engine uses,
	// so that several applications (or Hubs that must not share
	// messages) can use one Redis. Engines share messages exactly when
	// they share Redis and Prefix. Defaults to "fanout".
	Prefix string

	// Partitions is how many logs the topics are spread over. Topics of
	// one partition share one order; a client of topics in several
	// partitions resumes all of them from one composite ID (a
	// fanout.Cursor, a position per partition), so that the number of
	// partitions changes how long its ID is, not whether it resumes. On a
	// Redis Cluster each partition is one hash slot, placed in the middle
	// of its 1/Partitions of the slots, so that masters of equal slot
	// ranges carry as many partitions as each other, give or take one
	// (the default 16: 5 or 6 on each of three masters, 2 on each of
	// eight); a master carries whole partitions, so more partitions than
	// masters even out busy topics (see the package documentation,
	// Cluster key layout). A node receives only the messages of the
	// topics it has subscribers of, whatever the partitions (see the
	// package documentation).
	// At most 1000. Defaults to 1 on a standalone Redis (one order for
	// every topic, and IDs of one position) and 16 on a Cluster.
	//
	// Every node of one Redis and Prefix must have the same Partitions:
	// Redis records the number of the nodes that came first, and a node
	// with another is refused (ErrLayout) from its first use on. To
	// change it, deploy the new number under a new Prefix. On a Cluster,
	// nodes of v0.1.0 (which named the partitions' keys otherwise) and of
	// this version refuse each other the same way.
	Partitions int

	// HistorySize is how many messages each partition's stream keeps for
	// resuming clients (and at most a stream node more, 100 with Redis's
	// default stream-node-max-entries: the stream is trimmed by whole
	// nodes). Defaults to 10,000.
	HistorySize int

	// HistoryAge bounds how old a kept message may be: older ones are
	// trimmed, lazily (once the oldest is an eighth of HistoryAge past
	// it, looked at by a publish at most every sixteenth of HistoryAge),
	// as messages are published. It bounds the life of the
	// partitions' keys too: they expire HistoryAge and a quarter (at
	// least three CheckIntervals) after the partition's last publish, or
	// the last head read of a node that follows it (an ID of the history
	// they held then gets the resync signal: see the package
	// documentation). Defaults to 24 hours;
	// negative keeps messages regardless of age, and the keys for 30
	// days after the last publish or head read.
	HistoryAge time.Duration

	// CheckInterval is how often a node checks each partition it follows
	// when no message came in meanwhile: it reads the partition's head
	// (a new epoch, or a history that went back, is found even when
	// nothing is published) and sends a probe through the partition's
	// master that must come back on the subscription within PingTimeout
	// (a subscription can hang with its connection open, or sit on a
	// replica after a failover: it is then replaced, and what it missed
	// read from the stream). A topic's channel (and a
	// partition) stays subscribed for about one CheckInterval after its
	// last local subscriber left. Defaults to 1s.
	CheckInterval time.Duration

	// PingTimeout bounds each check's probe (see CheckInterval) and each
	// attempt to (re)subscribe. Defaults to 3s.
	PingTimeout time.Duration

	// PresenceTTL bounds how long the presence keys a node wrote outlive
	// it when it dies without a goodbye (SIGKILL, a lost host): each
	// expires PresenceTTL after the node last wrote it, and a living node
	// rewrites all of its own every third of PresenceTTL (see the package
	// documentation for what that costs). A dead node's members are
	// hidden from Presence sooner, once its heartbeat (three
	// CheckIntervals) has expired. Defaults to 1 minute; at least three
	// CheckIntervals.
	PresenceTTL time.Duration

	// Logger receives connection-level events at Debug level and losses
	// at Warn. Defaults to no logging.
	Logger *slog.Logger
}

// keyLifeAgeless is the life of the partitions' keys when HistoryAge is
// negative (see keyLife).
const keyLifeAgeless = 30 * 24 * time.Hour

// keyLife is how long the partition's keys (meta hash, stream, topic
// index) live after its last publish or head read: HistoryAge and a
// quarter, so that the last message outlives HistoryAge whatever part
// of their life had run when they were last refreshed (it is refreshed
// once an eighth has run); keyLifeAgeless without an age bound. It is
// at least three CheckIntervals, so that the keys of a partition that a
// node follows (and reads the head of every CheckInterval) never
// expire. o has its defaults.
func (o *Options) keyLife() time.Duration {
	if o.HistoryAge < 0 {
		return keyLifeAgeless
	}
	return max(o.HistoryAge+o.HistoryAge/4, 3*o.CheckInterval)
}

// maxPartitions bounds Options.Partitions.
const maxPartitions = 1000

// withDefaults returns a copy of o with defaults filled in.
func (o *Options) withDefaults(cluster bool) Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Prefix == "" {
		c.Prefix = "fanout"
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
		if cluster {
			c.Partitions = 16
		}
	}
	c.Partitions = min(c.Partitions, maxPartitions)
	if c.HistorySize <= 0 {
		c.HistorySize = 10000
	}
	if c.HistoryAge == 0 {
		c.HistoryAge = 24 * time.Hour
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 3 * time.Second
	}
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = time.Minute
	}
	c.PresenceTTL = max(c.PresenceTTL, 3*c.CheckInterval)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
