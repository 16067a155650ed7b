package fanout

import (
	"context"
	"slices"
)

// Member is one subscriber of a topic, as presence reports it: across
// every process that shares the engine, where the engine tells it (see
// PresenceEngine), or of this process.
type Member struct {
	Node       string // the process it is connected to ("" for this one, without a distributed engine)
	Subscriber uint64 // its ID on that node (Subscriber.ID)
	Group      string // Grant.Group
	Transport  string // "websocket" or "sse"
}

// PresenceEngine is implemented by an Engine that knows the subscribers of
// every process sharing it (the Redis engine does). Hub.Presence and
// Broker.Presence use it; without it, presence is this process's.
//
// The core reports each local join and leave to it, after the change, on
// the goroutine that made it: Join and Leave must not block on I/O.
type PresenceEngine interface {
	Engine
	// Join records that m joined topic on this node.
	Join(topic string, m Member)
	// Leave records that m left topic on this node.
	Leave(topic string, m Member)
	// Presence returns the members of topic on every node.
	Presence(ctx context.Context, topic string) ([]Member, error)
}

// member describes s for presence.
func (s *Subscriber) member() Member {
	return Member{Subscriber: s.id, Group: s.group, Transport: s.Transport()}
}

// announceJoins reports s's first topics (OnJoin, PresenceEngine.Join)
// once it is connected; later joins are reported as they happen.
func (c *core) announceJoins(s *Subscriber) {
	c.mu.Lock()
	s.announced = true
	topics := slices.Clone(s.topics)
	c.mu.Unlock()
	for _, t := range topics {
		c.joined(s, t)
	}
}

// announceLeaves reports the topics s was detached from when it ended or
// was removed (OnLeave, PresenceEngine.Leave), on its own goroutine, before
// OnDisconnect: the goroutine that ended it may be a publisher's.
func (c *core) announceLeaves(s *Subscriber) {
	c.mu.Lock()
	announced, left := s.announced, s.left
	s.left = nil
	c.mu.Unlock()
	if announced {
		for _, t := range left {
			c.leftTopic(s, t)
		}
	}
}

// leaving announces the leaves of an ending subscriber; a panic in OnLeave
// is recovered like one in OnDisconnect.
func (c *core) leaving(s *Subscriber) {
	defer c.recovered("OnLeave", s, nil)
	c.announceLeaves(s)
}

func (c *core) joined(s *Subscriber, topic string) {
	if pe, ok := c.eng.(PresenceEngine); ok {
		pe.Join(topic, s.member())
	}
	if s.hooks.onJoin != nil {
		s.hooks.onJoin(s, topic)
	}
}

func (c *core) leftTopic(s *Subscriber, topic string) {
	if pe, ok := c.eng.(PresenceEngine); ok {
		pe.Leave(topic, s.member())
	}
	if s.hooks.onLeave != nil {
		s.hooks.onLeave(s, topic)
	}
}

// presence returns the members of topic: on every node when the engine
// knows them, on this one otherwise.
func (c *core) presence(ctx context.Context, topic string) ([]Member, error) {
	if pe, ok := c.eng.(PresenceEngine); ok {
		return pe.Presence(ctx, topic)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	subs := c.topics[topic]
	out := make([]Member, 0, len(subs))
	for _, s := range subs {
		if s.announced {
			out = append(out, s.member())
		}
	}
	return out, nil
}

// topicSubscribers returns this process's subscribers of topic.
func (c *core) topicSubscribers(topic string) []*Subscriber {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.topics[topic])
}

// topicCounts returns this process's topics with their subscriber counts.
func (c *core) topicCounts() map[string]int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]int, len(c.topics))
	for t, subs := range c.topics {
		out[t] = len(subs)
	}
	return out
}
