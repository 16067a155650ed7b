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
// stream starts from: the engine's head.
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
// The history is read a page at a time (see pageLimit): subscribe reads
// the first; s's writer reads each next one once it has taken the
// previous one (core.nextPage), and each is joined to the live messages
// the same way (queuePage). Meanwhile the live messages that a later page
// holds are not queued, so what s holds is a page and its live messages
// of other kinds, however long its history and however slowly it reads.
func (c *core) subscribe(ctx context.Context, s *Subscriber, topics []string, lastID string, positions bool) (resync, err error) {
	stitch := lastID != "" || positions && c.history
	s.stitching = stitch
	if lastID != "" {
		// Live messages queue while the first page is read (see queuePage).
		s.pager = &pager{topics: slices.Clone(topics), reading: true}
	}
	if err := c.add(ctx, s, topics); err != nil {
		return nil, err
	}
	if !stitch {
		return nil, nil
	}
	var backlog []*Message
	var upTo Position
	more := false
	if lastID == "" {
		head, err := c.eng.Head(ctx, s.home)
		switch {
		case err != nil:
			// No position: the client cannot resume exactly, but it has
			// missed nothing yet.
			c.opts.Logger.Warn("fanout: reading the engine's head", "err", err)
		case !head.IsZero():
			upTo = head
			backlog = []*Message{positionMessage(head)}
		}
	} else {
		backlog, upTo, more, resync = c.replay(ctx, s, lastID, topics)
		if resync != nil && c.history {
			// After the resync signal, the position the stream goes on
			// from: a client that drops before its next message resumes
			// from there, instead of from the ID that could not be told.
			if head, err := c.eng.Head(ctx, s.home); err == nil && !head.IsZero() {
				backlog = append(backlog, positionMessage(head))
				upTo = head
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
	s.queuePage(backlog, upTo, more)
	return resync, nil
}

// replay returns the first page of what a subscriber of topics that last
// received lastID has missed, the position the page was read up to, and
// whether more pages follow; or a resync signal and the error that makes
// it resync.
func (c *core) replay(ctx context.Context, s *Subscriber, lastID string, topics []string) ([]*Message, Position, bool, error) {
	from, err := c.resumeFrom(lastID, topics, s.home)
	var msgs []*Message
	var upTo Position
	more := false
	if err == nil {
		s.mu.Lock()
		if s.pager != nil { // nil: it ended meanwhile
			s.pager.from = from // the live messages it may miss are known from now
		}
		s.mu.Unlock()
		msgs, upTo, more, err = c.readPage(ctx, from, topics)
		if err != nil {
			err = fmt.Errorf("replay from %q: %w", lastID, err)
		}
	}
	if err != nil {
		return []*Message{resyncMessage(err)}, Position{}, false, err
	}
	return msgs, upTo, more, nil
}

// resumeFrom returns the position a subscriber of topics resumes from, or
// why it cannot resume exactly.
func (c *core) resumeFrom(lastID string, topics []string, home int) (Position, error) {
	if !c.history {
		return Position{}, errNoHistory
	}
	if len(lastID) > MaxLastEventIDLen {
		return Position{}, fmt.Errorf("%w: ID of %d bytes is too long", ErrUnknownID, len(lastID))
	}
	from, err := ParseID(lastID)
	if err != nil {
		return Position{}, err
	}
	// One ID tells one partition's position: a subscriber whose topics
	// span several cannot be resumed exactly from it.
	if from.Partition != home {
		return Position{}, fmt.Errorf("%w: the ID is of partition %d, the subscriber's broadcasts of %d", ErrUnknownID, from.Partition, home)
	}
	for _, t := range topics {
		if p := c.eng.Partition(t); p != from.Partition {
			return Position{}, fmt.Errorf("%w: topic %q is in partition %d, the ID in %d", ErrUnknownID, t, p, from.Partition)
		}
	}
	return from, nil
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

// resumeFailed tells the Observer that a client's resume failed with err;
// it does nothing for a nil err.
func (c *core) resumeFailed(err error) {
	if o := c.opts.Observer; o != nil && err != nil {
		o.Resynced(Resync{Reason: resumeResync(err), Subscribers: 1, Err: err})
	}
}
