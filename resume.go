package fanout

import (
	"context"
	"fmt"
	"slices"
)

// subscribe registers s on topics (see core.add). When lastID is set, it
// also queues, ahead of everything published later, what s missed since
// lastID, or a resync signal when that cannot be told, and returns the
// error that made it resync. A new subscriber (no lastID) of a core whose
// engine keeps history gets, when positions is set, the position its
// stream starts from: the engine's head in each partition it follows.
//
// Resuming is stitched, not locked. s is registered first, so live
// messages queue for it (its writer does not take them yet); then the
// engine's history is read, with no lock held; then the two are joined by
// position: the live messages that the history already holds are dropped.
// Every message is therefore either in the replay or delivered live,
// never both and never neither: whatever the feed delivered before s was
// registered is stored, so the history (read after) holds it; whatever it
// delivers after is queued.
//
// A subscriber whose topics (and broadcasts) map to several partitions
// follows each: lastID is then a Cursor, a position per partition, and
// each partition's history is stitched to its live messages as above,
// by its own positions. Order across partitions is not defined.
//
// The history is read a page at a time (see pageLimit): subscribe reads
// the first of each partition (sharing one page's limit); s's writer
// reads each next one once it has taken the previous one (core.nextPage),
// a partition after the other, and each is joined to the live messages
// the same way (queuePage). Meanwhile the live messages that a later page
// holds are not queued, so what s holds is a page and its live messages
// of other kinds, however long its history and however slowly it reads.
func (c *core) subscribe(ctx context.Context, s *Subscriber, topics []string, lastID string, positions bool) (resync, err error) {
	stitch := lastID != "" || positions && c.history
	s.stitching = stitch
	if lastID != "" {
		// Live messages queue while the first pages are read (see queuePage).
		s.pager = &pager{topics: slices.Clone(topics), reading: true}
	}
	if err := c.add(ctx, s, topics); err != nil {
		return nil, err
	}
	if !stitch {
		return nil, nil
	}
	needs := c.partitions(topics, s.home)
	var backlog []*Message
	var ends []pageEnd
	if lastID == "" {
		if heads := c.heads(ctx, needs); heads != nil {
			backlog = []*Message{positionMessage(heads)}
			ends = headEnds(heads)
		}
	} else {
		backlog, ends, resync = c.replay(ctx, s, lastID, topics, needs)
		if resync != nil && c.history {
			// After the resync signal, the position the stream goes on
			// from: a client that drops before its next message resumes
			// from there, instead of from the ID that could not be told.
			if heads := c.heads(ctx, needs); heads != nil {
				backlog = append(backlog, positionMessage(heads))
				ends = headEnds(heads)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		// The client went away while the engine was read: nothing to
		// resync, no one to tell.
		s.retire(endClient)
		c.finish(s)
		return nil, err
	}
	for _, m := range backlog {
		_ = c.prepare(m) // replay checked its messages; signals are valid
	}
	s.queuePage(backlog, ends, resync != nil)
	return resync, nil
}

// partitions returns the partitions a subscriber of topics whose
// broadcasts come from home follows, in increasing order.
func (c *core) partitions(topics []string, home int) []int {
	needs := []int{home}
	for _, t := range topics {
		if p := c.eng.Partition(t); !slices.Contains(needs, p) {
			needs = append(needs, p)
		}
	}
	slices.Sort(needs)
	return needs
}

// heads returns the head of each of partitions: the position a stream of
// them starts (or goes on) from; nil when one cannot be read (the client
// cannot resume exactly, but it has missed nothing yet) or the engine
// keeps no history.
func (c *core) heads(ctx context.Context, partitions []int) Cursor {
	heads := make(Cursor, 0, len(partitions))
	for _, p := range partitions {
		head, err := c.eng.Head(ctx, p)
		if err != nil {
			c.opts.Logger.Warn("fanout: reading the engine's head", "partition", p, "err", err)
			return nil
		}
		if head.IsZero() {
			return nil
		}
		heads = append(heads, head)
	}
	return heads
}

// headEnds returns the page ends of a stream that starts at heads.
func headEnds(heads Cursor) []pageEnd {
	ends := make([]pageEnd, len(heads))
	for i, h := range heads {
		ends[i].upTo = h
	}
	return ends
}

// replay returns the first page of what a subscriber of topics (following
// the partitions needs) that last received lastID has missed, and where
// it ended in each partition; or a resync signal and the error that makes
// it resync: the whole resume resyncs when one partition cannot be
// resumed.
func (c *core) replay(ctx context.Context, s *Subscriber, lastID string, topics []string, needs []int) ([]*Message, []pageEnd, error) {
	from, err := c.resumeFrom(lastID, topics, needs)
	var msgs []*Message
	var ends []pageEnd
	if err == nil {
		s.mu.Lock()
		if p := s.pager; p != nil { // nil: it ended meanwhile
			// The live messages it may miss are known from now.
			p.needs, p.home = needs, s.home
			for _, f := range from {
				p.parts = append(p.parts, pagePart{from: f})
			}
		}
		s.mu.Unlock()
		if sk, ok := s.sink.(cursorSink); ok {
			sk.startCursor(from)
		}
		// The first pages share one page's limit.
		limit := c.pageLimit()
		limit.Messages = max(1, limit.Messages/len(from))
		limit.Bytes = max(1, limit.Bytes/len(from))
		for _, f := range from {
			page, upTo, more, rerr := c.readPage(ctx, f, topics, s.home, limit)
			if rerr != nil {
				err = fmt.Errorf("replay from %q: %w", f.ID(), rerr)
				break
			}
			msgs = append(msgs, page...)
			ends = append(ends, pageEnd{upTo: upTo, more: more})
		}
	}
	if err != nil {
		return []*Message{resyncMessage(err)}, nil, err
	}
	return msgs, ends, nil
}

// resumeFrom returns the position in each of the partitions needs that a
// subscriber of topics resumes from, or why it cannot resume exactly.
func (c *core) resumeFrom(lastID string, topics []string, needs []int) (Cursor, error) {
	if !c.history {
		return nil, errNoHistory
	}
	if len(lastID) > MaxLastEventIDLen {
		return nil, fmt.Errorf("%w: ID of %d bytes is too long", ErrUnknownID, len(lastID))
	}
	cur, err := ParseCursor(lastID)
	if err != nil {
		return nil, err
	}
	// One position per partition followed; others are ignored. One that
	// is missing (the client's topics now map to a partition its ID does
	// not name) cannot be resumed: never a silent gap.
	from := make(Cursor, 0, len(needs))
	for _, p := range needs {
		pos, ok := cur.Find(p)
		if !ok {
			return nil, fmt.Errorf("%w: the ID has no position of partition %d, which %s", ErrUnknownID, p, c.partitionOf(p, topics))
		}
		from = append(from, pos)
	}
	return from, nil
}

// partitionOf says what of topics maps to partition, for an error.
func (c *core) partitionOf(partition int, topics []string) string {
	for _, t := range topics {
		if c.eng.Partition(t) == partition {
			return fmt.Sprintf("topic %q maps to", t)
		}
	}
	return "the subscriber's broadcasts come from"
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

// readPage reads the page of history after from, within limit, for a
// subscriber of topics whose broadcasts come from home, prepares its
// messages, and reports whether more may follow it (the page is full).
// An engine of several partitions stores a broadcast in each: the copies
// of other partitions than home are not the subscriber's (see
// core.fanout), and are left out.
func (c *core) readPage(ctx context.Context, from Position, topics []string, home int, limit ReadLimit) ([]*Message, Position, bool, error) {
	msgs, upTo, err := readPage(ctx, c.eng, from, topics, limit)
	if err != nil {
		return nil, Position{}, false, err
	}
	bytes, n := 0, len(msgs)
	if from.Partition != home {
		msgs = slices.DeleteFunc(msgs, func(m *Message) bool { return m.topic == "" })
	}
	for _, m := range msgs {
		if err := c.prepare(m); err != nil { // the engine returned what Publish refuses
			return nil, Position{}, false, fmt.Errorf("replayed message: %w", err)
		}
		bytes += len(m.data)
	}
	return msgs, upTo, limit.Full(n, bytes), nil
}

// nextPage reads the next page of s's history (of the first partition
// left), on its writer, and queues it ahead of s's live messages; when the
// read fails, s gets the resync signal instead, and the position its
// stream goes on from in every partition it follows. It reports whether
// it queued anything.
func (c *core) nextPage(s *Subscriber) bool {
	s.mu.Lock()
	p := s.pager
	if p == nil || len(p.parts) == 0 || s.state != subActive {
		s.mu.Unlock()
		return false
	}
	p.reading = true
	from, topics, needs, home := p.parts[0].from, p.topics, p.needs, p.home
	s.mu.Unlock()

	msgs, upTo, more, err := c.readPage(c.ctx, from, topics, home, c.pageLimit())
	ends := []pageEnd{{upTo: upTo, more: more}}
	if err != nil {
		if c.ctx.Err() != nil { // closing: the subscription ends; the client resumes from what it got
			s.stopPaging()
			return false
		}
		err = fmt.Errorf("replay from %q: %w", from.ID(), err)
		msgs, ends = []*Message{resyncMessage(err)}, nil
		if heads := c.heads(c.ctx, needs); heads != nil {
			msgs = append(msgs, positionMessage(heads))
			ends = headEnds(heads)
		}
		for _, m := range msgs {
			_ = c.prepare(m) // signals are valid
		}
	}
	if !s.queuePage(msgs, ends, err != nil) {
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

// resumeFailed tells the Observer that a client's resume failed with err;
// it does nothing for a nil err.
func (c *core) resumeFailed(err error) {
	if o := c.opts.Observer; o != nil && err != nil {
		o.Resynced(Resync{Reason: resumeResync(err), Subscribers: 1, Err: err})
	}
}
