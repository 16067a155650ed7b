package fanout

import "context"

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
		if s.full() && (filter == nil || filter(s)) {
			return s
		}
	}
	return nil
}

// full reports whether s's queue is full (see QueueSize, QueueBytes).
func (s *Subscriber) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fullLocked()
}

func (s *Subscriber) fullLocked() bool {
	o := &s.c.opts
	return s.state == subActive &&
		(s.q.n-s.backlog >= o.QueueSize || s.qBytes-s.backlogSize-s.bigBytes >= o.QueueBytes)
}

// roomSignal returns a channel closed once s's queue has room (or s ends),
// or nil when it has room already.
func (s *Subscriber) roomSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fullLocked() {
		return nil
	}
	if s.room == nil {
		s.room = make(chan struct{})
	}
	return s.room
}

// freeRoomLocked wakes the publishers waiting for room in s's queue, if it
// has room now (or s is ending); s.mu must be held.
func (s *Subscriber) freeRoomLocked() {
	if s.room != nil && !s.fullLocked() {
		close(s.room)
		s.room = nil
	}
}
