package redis

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"
)

// A partition's messages go out on one channel per topic, under the
// partition's hash tag ({prefix:p}:t:<topic>, so one slot: SSUBSCRIBE
// takes them together on a Cluster), and its broadcasts on one more
// ({prefix:p}:b). A node subscribes, on the partition's one connection,
// the broadcast channel and the channels of the topics it has local
// subscribers of: it receives nothing of the others. The offsets it
// receives therefore skip the other topics' messages, and a skip tells
// nothing; on one connection Redis delivers a slot's messages in the
// order the scripts ran, so a message can only be missed at a
// discontinuity of the subscription (a new connection, a channel the
// server dropped, a subscription stuck without a word), and the follower
// catches up there, from the stream, reading the messages of the topics
// it follows (see fill).

// Why the probe (see check) finds a subscription stuck without a word.
// The check reads the head h, then runs the probe script, which
// publishes a random token on {prefix:p}:probe:<random>: a channel of the
// partition's slot, subscribed on the same connection as the others, so
// on a Cluster the same shard as the partition's keys and channels. The
// probe script names the meta key and may write (a shebang without
// no-writes), as the publish script does, so both run on the slot's
// master only (a replica answers MOVED or READONLY); a bare SPUBLISH
// would not (a replica serves sharded pub/sub). If h is of the epoch
// the node follows, every message up to h was published by that epoch's
// server process (a script on another one starts a new epoch: run_id),
// which also ran the head read, before it; the probe, published after
// the head read returned, runs on that process too, or on a later master
// (a failover between the two: the probe then travels as a message
// published after them, or does not reach the subscription at all).
// Redis writes a publish into every subscribed connection's output
// buffer when it runs it, so one connection receives one server's
// messages in the order it ran them; a replica that serves the
// subscription receives them in the master's order (one replication
// stream or one cluster bus link). So when the token comes back, every
// message up to h on the followed channels came before it, unless the
// connection lost one and delivered the later ones: a server does not
// (it closes the connection, or drops a slot's channels with a notice,
// which ends the session), a replica's link may: so a Cluster session
// first runs the probe script on its own connection, which a replica
// refuses (see session; docs/redis-engine.md for what remains, and the audit). The follower handles the inbox in arrival order up to the
// token before it concludes, so every message up to h is delivered: the
// next session's catch-up may start at h (part.probed). A token that
// does not come back within PingTimeout: the connection no longer
// delivers (frozen, or on a server that no longer gets the partition's
// publishes: the old master after a failover, the probe having gone to
// the new one; a slot moved away, whose channels the old owner dropped).
// Tokens of other checks, late, and anyone's publishes on the channel
// are ignored: a check waits for its own random token. PUBLISH creates
// no key: the channel lives as long as the subscription, nothing to
// expire. Cost: one head read and one probe script per quiet partition
// and CheckInterval per node, whatever the topics followed.

// Nodes of earlier versions published every message of a partition on
// one channel ({prefix:p}:live): a node subscribes it too, so that
// during a rolling upgrade it receives their messages in order with the
// others (nothing is published on it afterwards). Nodes of earlier
// versions receive nothing live from upgraded ones: each of their
// deliveries then shows a hole, filled from the stream, and a quiet
// partition's periodic check finds the rest, late but complete.

// topicSub is one topic of a partition as this node follows it.
type topicSub struct {
	refs    int           // local subscriptions of the topic
	ready   chan struct{} // closed once its channel is subscribed on a live connection
	isReady bool          // ready is closed
	on      bool          // the current session has subscribed its channel (or is doing so)
	idle    bool          // refs was 0 at the follower's last tick

	// Which of its messages the current session owes (see audit): those
	// after since, once pending is false. A channel subscribed at the
	// session's start is owed everything after the last delivery (since
	// 0); one subscribed later, what follows the head read at the first
	// check after it (pending until then): what came before may predate
	// the subscription.
	since   uint64
	pending bool
}

// subscribeBatch is how many channels one SUBSCRIBE names: a node that
// restores thousands of topics after a reconnect sends a few commands,
// each of which holds Redis for a bounded time.
const subscribeBatch = 1000

// channelOf returns topic's channel in p ("": the broadcasts').
func (p *part) channelOf(topic string) string {
	if topic == "" {
		return p.bcast
	}
	return p.topicChan + topic
}

// addTopics counts one more local subscription of each of topics; p.mu
// is held. It returns the channels closed once each is subscribed (none
// for a topic already subscribed), and whether the follower has new
// channels to subscribe.
func (p *part) addTopicsLocked(topics []string, ready []<-chan struct{}) ([]<-chan struct{}, bool) {
	added := false
	for _, t := range topics {
		ts := p.topics[t]
		if ts == nil {
			ts = &topicSub{ready: make(chan struct{})}
			p.topics[t] = ts
			p.added = append(p.added, t)
			added = true
		}
		ts.refs++
		ts.idle = false
		if !ts.isReady {
			ready = append(ready, ts.ready)
		}
	}
	return ready, added
}

// releaseTopicsLocked undoes addTopicsLocked's counts; p.mu is held. The
// follower unsubscribes a channel a whole CheckInterval after its count
// fell to 0 (see lingerTopics).
func (p *part) releaseTopicsLocked(topics []string) {
	for _, t := range topics {
		if ts := p.topics[t]; ts != nil {
			ts.refs--
		}
	}
}

// followed returns the topics whose channels the current session
// subscribed: those whose messages the follower owes the feed.
func (p *part) followed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	topics := make([]string, 0, len(p.topics))
	for t, ts := range p.topics {
		if ts.on {
			topics = append(topics, t)
		}
	}
	return topics
}

// owed returns the topics whose channels the current session subscribed
// before its last check, each with the offset after which their
// messages are owed (see topicSub.since).
func (p *part) owed() ([]string, map[string]uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	topics := make([]string, 0, len(p.topics))
	since := make(map[string]uint64, len(p.topics))
	for t, ts := range p.topics {
		if ts.on && !ts.pending {
			topics = append(topics, t)
			since[t] = ts.since
		}
	}
	return topics, since
}

// settle records head, read at a check, as the start of what the
// channels subscribed since the last check owe (see topicSub.since).
func (p *part) settle(head uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == 0 {
		return
	}
	for _, ts := range p.topics {
		if ts.on && ts.pending {
			ts.since, ts.pending = head, false
		}
	}
	p.pending = 0
}

// toSubscribe marks the topics whose channels the current session has
// not subscribed (every topic, at its start; those added since, after)
// as subscribed, and returns their channels (with the broadcasts' at the
// start, and the probe's: see check).
func (p *part) toSubscribe(start bool) (channels []string, subs []*topicSub) {
	p.mu.Lock()
	defer p.mu.Unlock()
	add := func(t string, ts *topicSub) {
		ts.on = true
		ts.since, ts.pending = 0, !start
		if !start {
			p.pending++
		}
		channels = append(channels, p.channelOf(t))
		subs = append(subs, ts)
	}
	if start {
		p.pending = 0
		channels = append(channels, p.bcast, p.legacy, p.probe)
		for t, ts := range p.topics {
			add(t, ts)
		}
	} else {
		for _, t := range p.added {
			if ts := p.topics[t]; ts != nil && !ts.on {
				add(t, ts)
			}
		}
	}
	p.added = nil
	return channels, subs
}

// markReady closes the ready channels of subs: their channels are
// subscribed on a live connection.
func (p *part) markReady(subs []*topicSub) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ts := range subs {
		if !ts.isReady {
			close(ts.ready)
			ts.isReady = true
		}
	}
}

// lingerTopics forgets the topics that no local subscription needed for
// a whole CheckInterval (two ticks), so that a client that reconnects
// does not make a channel churn, and returns the channels to
// unsubscribe.
func (p *part) lingerTopics() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var channels []string
	for t, ts := range p.topics {
		switch {
		case ts.refs > 0:
			ts.idle = false
		case !ts.idle:
			ts.idle = true
		default:
			delete(p.topics, t)
			if ts.on {
				channels = append(channels, p.channelOf(t))
			}
		}
	}
	return channels
}

// forgetTopicsLocked ends the follower's hold on the topics: those no
// subscription needs are forgotten, the others are subscribed again by
// the next follower. p.mu is held.
func (p *part) forgetTopicsLocked() {
	for t, ts := range p.topics {
		if ts.refs <= 0 {
			delete(p.topics, t)
		} else {
			ts.on = false
		}
	}
}

// subscribe subscribes channels on dc, subscribeBatch at a time. Each
// call returns once Redis ran its command: from then on, every message
// published on its channels comes over dc.
func (e *Engine) subscribe(ctx context.Context, dc rueidis.DedicatedClient, channels []string) error {
	for len(channels) > 0 {
		n := min(len(channels), subscribeBatch)
		cmd := dc.B().Subscribe().Channel(channels[:n]...).Build()
		if e.sharded {
			cmd = dc.B().Ssubscribe().Channel(channels[:n]...).Build()
		}
		if err := dc.Do(ctx, cmd).Error(); err != nil {
			return fmt.Errorf("subscribing %d channels: %w", n, err)
		}
		channels = channels[n:]
	}
	return nil
}

// unsubscribe unsubscribes channels on dc. The server's confirmations
// are expected (see expectDrop): they are not taken for a subscription
// the server dropped.
func (p *part) unsubscribe(ctx context.Context, dc rueidis.DedicatedClient, channels []string) error {
	p.inMu.Lock()
	if p.dropping == nil {
		p.dropping = make(map[string]int)
	}
	for _, c := range channels {
		p.dropping[c]++
	}
	p.inMu.Unlock()
	for len(channels) > 0 {
		n := min(len(channels), subscribeBatch)
		cmd := dc.B().Unsubscribe().Channel(channels[:n]...).Build()
		if p.e.sharded {
			cmd = dc.B().Sunsubscribe().Channel(channels[:n]...).Build()
		}
		if err := dc.Do(ctx, cmd).Error(); err != nil {
			return fmt.Errorf("unsubscribing %d channels: %w", n, err)
		}
		channels = channels[n:]
	}
	return nil
}

// dropped reports whether the server's unsubscribe confirmation of
// channel was not asked for by this node (a slot moved, say); p.inMu is
// held.
func (p *part) droppedLocked(channel string) bool {
	if n := p.dropping[channel]; n > 0 {
		if n == 1 {
			delete(p.dropping, channel)
		} else {
			p.dropping[channel] = n - 1
		}
		return false
	}
	return true
}

// addChannels subscribes the channels of the topics that local
// subscriptions added since the session began. Nothing stored before a
// channel is subscribed is owed to its new subscribers (Subscribe waits
// for it), and the other channels' messages keep their order: no
// catching up.
func (p *part) addChannels(dc rueidis.DedicatedClient) error {
	channels, subs := p.toSubscribe(false)
	if len(channels) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.e.ctx, p.e.opts.PingTimeout)
	defer cancel()
	if err := p.e.subscribe(ctx, dc, channels); err != nil {
		return err
	}
	p.markReady(subs)
	return nil
}

// dropChannels unsubscribes the channels of the topics no local
// subscription needed for a whole CheckInterval.
func (p *part) dropChannels(dc rueidis.DedicatedClient) error {
	channels := p.lingerTopics()
	if len(channels) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.e.ctx, p.e.opts.PingTimeout)
	defer cancel()
	return p.unsubscribe(ctx, dc, channels)
}
