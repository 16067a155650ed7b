package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Joining topics. One request may name many topics, and c.mu is the lock
// that publishing needs: so the topics of a request are checked and
// deduplicated before any lock, the subscriber is admitted before any
// engine work, and its topics are joined a bounded number at a time, each
// in O(1). What one client asks for never holds a publish for long.

// joinChunk bounds the topics joined in one hold of c.mu (some µs of
// work), so that a subscriber of many topics does not hold publishes.
const joinChunk = 128

// topicSetMin is the number of topics from which a subscriber's topics
// are also kept in a set (core.topicSets), so that joining one more is
// O(1): below it, scanning the list is as fast, and an idle subscriber of
// a few topics costs no map.
const topicSetMin = 16

// topicList checks the topics of one request (or one Subscribe call): no
// empty name, and no more than Limits.MaxTopics distinct ones. It returns
// them without duplicates (topics itself when it is short and has none).
// It takes no lock: its work is the caller's.
func (c *core) topicList(topics []string) ([]string, error) {
	limit := c.limits.MaxTopics
	if len(topics) <= topicSetMin && !hasDup(topics) {
		if err := checkTopics(topics); err != nil {
			return nil, err
		}
		if limit > 0 && len(topics) > limit {
			return nil, c.tooManyTopics(len(topics))
		}
		return topics, nil
	}
	size := len(topics)
	if limit > 0 {
		size = min(size, limit+1)
	}
	seen := make(map[string]struct{}, size)
	out := make([]string, 0, size)
	for _, t := range topics {
		if t == "" {
			return nil, fmt.Errorf("subscribe: %w", ErrInvalidTopic)
		}
		if _, ok := seen[t]; ok {
			continue
		}
		if limit > 0 && len(out) == limit {
			return nil, c.tooManyTopics(-1)
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	return out, nil
}

// hasDup reports whether topics, a short list, names a topic twice.
func hasDup(topics []string) bool {
	for i, t := range topics {
		for _, u := range topics[i+1:] {
			if t == u {
				return true
			}
		}
	}
	return false
}

// tooManyTopics is the error for a subscriber that would have n topics
// (-1: more than Limits.MaxTopics), over Limits.MaxTopics.
func (c *core) tooManyTopics(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: more than %d topics (Limits.MaxTopics)", ErrTooManyTopics, c.limits.MaxTopics)
	}
	return fmt.Errorf("%w: %d topics, more than %d (Limits.MaxTopics)", ErrTooManyTopics, n, c.limits.MaxTopics)
}

// add registers s on its topics and in the broadcast set: first its
// admission (closing, Limits), under c.mu, then the engine's Subscribe,
// with no lock held, then its topics, joinChunk at a time. It fails with
// a Refusal over Limits (ErrTooManyTopics: 400; ErrTooManySubscribers:
// 503 or 429), ErrInvalidTopic, or ErrClosed once closing has begun,
// before any engine work; otherwise the caller must call c.finish when
// the subscription ends.
func (c *core) add(ctx context.Context, s *Subscriber, topics []string) error {
	topics, err := c.topicList(topics)
	if errors.Is(err, ErrTooManyTopics) {
		return &Refusal{Status: http.StatusBadRequest, Body: err.Error(), Err: err}
	}
	if err != nil {
		return err
	}
	if err := c.admitSub(s); err != nil {
		return err
	}
	if err := c.eng.Subscribe(ctx, topics); err != nil {
		s.retire(endClient)
		c.finish(s)
		return fmt.Errorf("subscribe: engine: %w", err)
	}
	c.mu.Lock()
	s.home = c.home(topics)
	if s.in(subActive) { // else it ended meanwhile (Close): its caller finishes it
		c.all = append(c.all, s)
	}
	c.mu.Unlock()
	c.joinChunked(s, topics, nil)
	return nil
}

// admitSub admits s, within Limits, unless closing has begun: it counts
// as a subscription (c.wg, c.conns, its group) from now on.
func (c *core) admitSub(s *Subscriber) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return ErrClosed
	}
	if err := c.admit(s.group); err != nil {
		return err
	}
	c.wg.Add(1)
	c.conns[s] = struct{}{}
	if s.group != "" {
		c.groups[s.group]++
	}
	if d := s.kaEvery; d > 0 && !c.ka[d] {
		c.ka[d] = true
		c.kaWG.Add(1)
		go c.keepalive(d)
	}
	return nil
}

// admit checks the subscriber limits for one more subscriber of group;
// c.mu must be held.
func (c *core) admit(group string) error {
	l := &c.limits
	if l.MaxSubscribers > 0 && len(c.conns) >= l.MaxSubscribers {
		return c.overLimit(http.StatusServiceUnavailable, fmt.Errorf("%w: %d subscribers", ErrTooManySubscribers, l.MaxSubscribers))
	}
	if l.MaxPerGroup > 0 && group != "" && c.groups[group] >= l.MaxPerGroup {
		return c.overLimit(http.StatusTooManyRequests, fmt.Errorf("%w: %d subscribers in group %q", ErrTooManySubscribers, l.MaxPerGroup, group))
	}
	return nil
}

func (c *core) overLimit(status int, err error) error {
	secs := int((c.limits.RetryAfter + time.Second - 1) / time.Second)
	return &Refusal{Status: status, Err: err, Body: err.Error(),
		Header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}

// joinChunked joins s to topics (distinct; the engine subscribed to
// them), joinChunk at a time under c.mu, while s is active, and appends
// the topics it joined to joined. What it does not join (s had it, or
// has ended) is given back to the engine.
func (c *core) joinChunked(s *Subscriber, topics []string, joined *[]string) {
	var back []string
	for len(topics) > 0 {
		n := min(len(topics), joinChunk)
		c.mu.Lock()
		if !s.in(subActive) {
			c.mu.Unlock()
			back = append(back, topics...)
			break
		}
		for _, t := range topics[:n] {
			switch {
			case !c.join(s, t):
				back = append(back, t)
			case joined != nil:
				*joined = append(*joined, t)
			}
		}
		c.mu.Unlock()
		topics = topics[n:]
	}
	if len(back) > 0 {
		c.eng.Unsubscribe(back)
	}
}

// home returns the partition of a subscriber of topics: that of its first
// topic, or of the broadcasts that reach a subscriber of none.
func (c *core) home(topics []string) int {
	if len(topics) == 0 {
		return c.eng.Partition("")
	}
	return c.eng.Partition(topics[0])
}

// checkTopics rejects an empty topic name.
func checkTopics(topics []string) error {
	for _, t := range topics {
		if t == "" {
			return fmt.Errorf("subscribe: %w", ErrInvalidTopic)
		}
	}
	return nil
}

// join adds s to topic t; c.mu must be held. It reports whether s was
// not subscribed to t yet. O(1): see topicSetMin.
func (c *core) join(s *Subscriber, t string) bool {
	if c.hasTopic(s, t) {
		return false
	}
	s.topics = append(s.topics, t)
	c.topics[t] = append(c.topics[t], s)
	switch set := c.topicSets[s]; {
	case set != nil:
		set[t] = struct{}{}
	case len(s.topics) > topicSetMin:
		if c.topicSets == nil {
			c.topicSets = make(map[*Subscriber]map[string]struct{})
		}
		set = make(map[string]struct{}, 2*len(s.topics))
		for _, u := range s.topics {
			set[u] = struct{}{}
		}
		c.topicSets[s] = set
	}
	return true
}

// hasTopic reports whether s is subscribed to t; c.mu must be held.
func (c *core) hasTopic(s *Subscriber, t string) bool {
	if set := c.topicSets[s]; set != nil {
		_, ok := set[t]
		return ok
	}
	for _, u := range s.topics {
		if u == t {
			return true
		}
	}
	return false
}

// newTopics returns how many of topics (distinct) s is not subscribed to;
// c.mu must be held.
func (c *core) newTopics(s *Subscriber, topics []string) int {
	n := 0
	for _, t := range topics {
		if !c.hasTopic(s, t) {
			n++
		}
	}
	return n
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

// topicsOf returns the topics s is subscribed to (Subscriber.Topics).
func (c *core) topicsOf(s *Subscriber) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(s.topics)
}

// addTopics adds topics to s (Subscriber.Subscribe).
func (c *core) addTopics(ctx context.Context, s *Subscriber, topics []string) error {
	topics, err := c.topicList(topics) // before any lock or engine work
	if err != nil {
		return err
	}
	if err := c.eng.Subscribe(ctx, topics); err != nil {
		return fmt.Errorf("subscribe: engine: %w", err)
	}
	var joined []string
	back := topics // given back to the engine: joined already, or refused
	c.mu.Lock()
	// O(len(topics)), at most Limits.MaxTopics (see join.go).
	ok := s.in(subActive)
	if ok {
		n := len(s.topics) + c.newTopics(s, topics)
		if l := c.limits.MaxTopics; l > 0 && n > l {
			err = c.tooManyTopics(n)
		}
	}
	if ok && err == nil {
		back = nil
		for _, t := range topics {
			if c.join(s, t) {
				joined = append(joined, t)
			} else {
				back = append(back, t)
			}
		}
	}
	announce := s.announced
	c.mu.Unlock()
	if len(back) > 0 {
		c.eng.Unsubscribe(back)
	}
	switch {
	case !ok:
		return ErrNotSubscribed
	case err != nil:
		return err
	}
	if announce {
		for _, t := range joined {
			c.joined(s, t)
		}
	}
	return nil
}

// dropTopics removes topics from s (Subscriber.Unsubscribe).
func (c *core) dropTopics(s *Subscriber, topics []string) {
	var left []string
	c.mu.Lock()
	for _, t := range topics {
		if c.leave(s, t) {
			left = append(left, t)
		}
	}
	announce := s.announced
	c.mu.Unlock()
	if len(left) > 0 {
		c.eng.Unsubscribe(left)
	}
	if announce {
		for _, t := range left {
			c.leftTopic(s, t)
		}
	}
}

var _ host = (*core)(nil)

// newSubscriber returns a subscriber of c, not yet registered (see add),
// writing to sk.
func newSubscriber(c *core, req *http.Request, subprotocol string, sk sink, h *hooks, g Grant) *Subscriber {
	s := &Subscriber{
		id:          c.ids.Add(1),
		host:        c,
		opts:        &c.opts,
		stats:       &c.stats,
		identity:    g.Identity,
		group:       g.Group,
		hooks:       h,
		subprotocol: subprotocol,
		subWriter:   subWriter{sink: sk, wake: wakeChan(c.opts.FlushDelay, sk)},
		done:        make(chan struct{}),
	}
	s.req.Store(req)
	return s
}
