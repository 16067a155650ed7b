package fanout

import (
	"context"
	"fmt"
	"slices"
)

// ReadLimit bounds one page of history: what one PageReader.ReadPage
// returns. Its zero value bounds nothing.
type ReadLimit struct {
	// Messages is the most messages a page holds; 0: no bound.
	Messages int
	// Bytes bounds the data of a page's messages: the page ends with the
	// message that takes it to Bytes or more. 0: no bound.
	Bytes int
}

// Full reports whether a page of n messages holding bytes bytes of data
// is full: a read stops there.
func (l ReadLimit) Full(n, bytes int) bool {
	return l.Messages > 0 && n >= l.Messages || l.Bytes > 0 && bytes >= l.Bytes
}

// PageReader is implemented by an Engine, or a ReplayStore, that can read
// its history a page at a time. The Hub reads a resuming subscriber's
// history in pages, the next one once the subscriber's writer has taken
// the previous one, so that what a client that resumes from far back and
// then reads slowly, or not at all, holds in memory is one page, not its
// whole history. Over an engine (or a store) that does not implement it,
// each page is cut from a whole Read, which then costs the whole history
// for the time of the read. The in-process engine (which reads a Ring's
// pages itself), the bbolt store and the Redis engine implement it.
//
// Beware of embedding: a type that embeds a PageReader and changes its
// Read must change ReadPage too, or its Read is bypassed.
type PageReader interface {
	// ReadPage is Read, except that it stops once the page is full (see
	// ReadLimit.Full): upTo is then the position of the last message
	// returned, or a later one when no message on topics (or broadcast)
	// lies between them, and the next page is read from it. A page that
	// is not full ends at the head, as Read's result does.
	ReadPage(ctx context.Context, from Position, topics []string, limit ReadLimit) ([]*Message, Position, error)
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

// readPage reads a page with r's ReadPage, or cuts it from r's Read.
func readPage(ctx context.Context, r interface {
	Read(context.Context, Position, []string) ([]*Message, Position, error)
}, from Position, topics []string, limit ReadLimit) ([]*Message, Position, error) {
	if pr, ok := r.(PageReader); ok {
		return pr.ReadPage(ctx, from, topics, limit)
	}
	msgs, upTo, err := r.Read(ctx, from, topics)
	if err != nil {
		return nil, Position{}, err
	}
	bytes := 0
	for i, m := range msgs {
		bytes += len(m.data)
		if limit.Full(i+1, bytes) && i+1 < len(msgs) {
			// A copy, so that the rest can be collected.
			return slices.Clone(msgs[:i+1]), m.pos, nil
		}
	}
	return msgs, upTo, nil
}

// pageLimit is the size of a page of a resuming subscriber's history:
// four batches (MaxBatch messages and MaxBatchBytes bytes each), within
// the queue's bounds.
func (c *core) pageLimit() ReadLimit {
	o := &c.opts
	return ReadLimit{Messages: min(pageBatches*o.MaxBatch, o.QueueSize), Bytes: min(pageBatches*o.MaxBatchBytes, o.QueueBytes)}
}

// pageBatches is how many batches a page of history holds.
const pageBatches = 4

// pager is what a resuming subscriber has left of its history to read:
// the pages after from. It is guarded by the subscriber's mu, and read
// only by its writer (or, for the first page, by core.subscribe).
type pager struct {
	from    Position // the end of the last page queued: the next one starts after it
	topics  []string // the topics the history is read for (those of the resume)
	reading bool     // a page is being read: the messages it may miss are queued
	// overflow: while a page was read, a live message that it may miss
	// found the queue full, and was dropped: another page must follow.
	overflow bool
}

// holds reports whether m is a message of the history being paged: one
// that a page read or will read, so it need not be queued live.
func (p *pager) holds(m *Message) bool {
	return m.pos.SameLog(p.from) && (m.topic == "" || slices.Contains(p.topics, m.topic))
}

// readPage reads the page of history after from, prepares its messages,
// and reports whether more may follow it (the page is full).
func (c *core) readPage(ctx context.Context, from Position, topics []string) ([]*Message, Position, bool, error) {
	limit := c.pageLimit()
	msgs, upTo, err := readPage(ctx, c.eng, from, topics, limit)
	if err != nil {
		return nil, Position{}, false, err
	}
	bytes := 0
	for _, m := range msgs {
		if err := c.prepare(m); err != nil { // the engine returned what Publish refuses
			return nil, Position{}, false, fmt.Errorf("replayed message: %w", err)
		}
		bytes += len(m.data)
	}
	return msgs, upTo, limit.Full(len(msgs), bytes), nil
}

// nextPage reads the next page of s's history, on its writer, and queues
// it ahead of s's live messages; when the read fails, s gets the resync
// signal instead, and the position its stream goes on from. It reports
// whether it queued anything.
func (c *core) nextPage(s *Subscriber) bool {
	s.mu.Lock()
	p := s.pager
	if p == nil || s.state != subActive {
		s.mu.Unlock()
		return false
	}
	p.reading = true
	from, topics := p.from, p.topics
	s.mu.Unlock()

	msgs, upTo, more, err := c.readPage(c.ctx, from, topics)
	if err != nil {
		if c.ctx.Err() != nil { // closing: the subscription ends; the client resumes from what it got
			s.stopPaging()
			return false
		}
		err = fmt.Errorf("replay from %q: %w", from.ID(), err)
		msgs, upTo, more = []*Message{resyncMessage(err)}, Position{}, false
		if head, herr := c.eng.Head(c.ctx, s.home); herr == nil && !head.IsZero() {
			msgs = append(msgs, positionMessage(head))
			upTo = head
		}
		for _, m := range msgs {
			_ = c.prepare(m) // signals are valid
		}
	}
	if !s.queuePage(msgs, upTo, more) {
		return false
	}
	if err != nil {
		c.pageFailed(s, from, err)
	}
	return true
}

// pageFailed tells the Observer and OnResync that the history of s could
// not be read on from from: a client that read slowly found it evicted,
// say. Hooks run on the writer here, a goroutine the library owns: a
// panic ends the subscriber.
func (c *core) pageFailed(s *Subscriber, from Position, err error) {
	defer c.recovered("OnResync", s, nil)
	c.resumeFailed(err)
	if s.hooks.onResync != nil {
		s.hooks.onResync(s, from.ID(), err)
	}
}

// stopPaging forgets what s had left of its history (see
// abandonPagesLocked).
func (s *Subscriber) stopPaging() {
	s.mu.Lock()
	s.abandonPagesLocked()
	s.mu.Unlock()
}

// abandonPagesLocked forgets the pages of s's history left to read, when
// s stops taking messages before it read them all (it drains for
// Shutdown, or was removed): its live messages of the history's log,
// which follow what it did not read, are dropped with them, so that the
// client's last ID is the end of what it got in order, and it resumes
// from there. s.mu is held.
func (s *Subscriber) abandonPagesLocked() {
	p := s.pager
	if p == nil {
		return
	}
	s.pager = nil
	page := s.backlog // the page queued, at the head: kept
	for i := range s.q.n {
		m := s.q.pop()
		if i >= page && m.pos.SameLog(p.from) {
			s.qBytes -= len(m.data)
			if len(m.data) > s.c.opts.QueueBytes {
				s.bigBytes = 0
			}
			continue
		}
		s.q.push(m)
	}
}

// queuePage queues a page of s's history (or the signals that replace it)
// ahead of its live messages, which the writer may take once the history
// is done, and ends the stitching of a new subscriber. The page does not
// count against the queue's limits: the page limit bounds it.
//
// With more pages to read (more), the live messages that a later page
// holds are dropped, and are not queued until the next page is being
// read (see pager.holds): so a long replay costs a page, not the
// messages published meanwhile, and they never make its subscriber slow.
// One that finds the queue full while a page is read is dropped too, and
// another page follows, which holds it.
// Otherwise, the live messages at or before upTo are in the history
// already, so they are dropped, now and when the feed delivers them
// later (see Subscriber.replayed). With no upTo (a resync, or no
// position), every live message is kept. It reports whether s is still
// there to take the page.
func (s *Subscriber) queuePage(page []*Message, upTo Position, more bool) bool {
	s.mu.Lock()
	if s.state == subEnding { // ended meanwhile: its queue is discarded
		s.stitching = false
		s.pager = nil
		s.mu.Unlock()
		return false
	}
	// The writer reads a page once it has taken the previous one: no
	// backlog is left, only live messages.
	p := s.pager
	if p != nil && p.overflow && !upTo.IsZero() {
		// What it dropped follows upTo: the next page reads it.
		more, p.overflow = true, false
	}
	more = more && p != nil // nil: paging stopped (closing)
	if more {
		p.from, p.reading = upTo, false
	}
	live := make([]*Message, 0, s.q.n)
	for s.q.n > 0 {
		m := s.q.pop()
		drop := m.pos.SameLog(upTo) && m.pos.Offset <= upTo.Offset
		if more {
			drop = drop || p.holds(m)
		}
		if drop {
			s.qBytes -= len(m.data)
			if len(m.data) > s.c.opts.QueueBytes {
				s.bigBytes = 0
			}
			continue
		}
		live = append(live, m)
	}
	for _, m := range page {
		s.q.push(m)
		s.qBytes += len(m.data)
		s.backlogSize += len(m.data)
	}
	s.backlog = len(page)
	for _, m := range live {
		s.q.push(m)
	}
	s.freeRoomLocked() // live messages were dropped: publishers waiting for room (PolicyBlock) may go on
	if more {
		s.pager = p
	} else {
		s.pager = nil
		// The feed can lag behind the history: what it delivers at or
		// before upTo from now on was replayed too.
		s.replayedTo = upTo
	}
	s.stitching = false
	s.mu.Unlock()
	s.signal()
	return true
}
