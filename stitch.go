package fanout

import (
	"context"
	"fmt"
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
func (c *core) subscribe(ctx context.Context, s *Subscriber, topics []string, lastID string, positions bool) (resync, err error) {
	stitch := lastID != "" || positions && c.history
	s.stitching = stitch
	if err := c.add(ctx, s, topics); err != nil {
		return nil, err
	}
	if !stitch {
		return nil, nil
	}
	var backlog []*Message
	var upTo Position
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
		backlog, upTo, resync = c.replay(ctx, lastID, topics, s.home)
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
	s.endStitch(backlog, upTo)
	return resync, nil
}

// replay returns what a subscriber of topics that last received lastID
// has missed and the position the history was read up to, or a resync
// signal and the error that makes it resync.
func (c *core) replay(ctx context.Context, lastID string, topics []string, home int) ([]*Message, Position, error) {
	msgs, upTo, err := c.readSince(ctx, lastID, topics, home)
	if err == nil {
		for _, m := range msgs {
			if err = c.prepare(m); err != nil { // the engine returned what Publish refuses
				err = fmt.Errorf("replayed message: %w", err)
				break
			}
		}
	}
	if err != nil {
		return []*Message{resyncMessage(err)}, Position{}, err
	}
	return msgs, upTo, nil
}

// readSince reads the history after lastID.
func (c *core) readSince(ctx context.Context, lastID string, topics []string, home int) ([]*Message, Position, error) {
	if !c.history {
		return nil, Position{}, errNoHistory
	}
	if len(lastID) > MaxLastEventIDLen {
		return nil, Position{}, fmt.Errorf("%w: ID of %d bytes is too long", ErrUnknownID, len(lastID))
	}
	from, err := ParseID(lastID)
	if err != nil {
		return nil, Position{}, err
	}
	// One ID tells one partition's position: a subscriber whose topics
	// span several cannot be resumed exactly from it.
	if from.Partition != home {
		return nil, Position{}, fmt.Errorf("%w: the ID is of partition %d, the subscriber's broadcasts of %d", ErrUnknownID, from.Partition, home)
	}
	for _, t := range topics {
		if p := c.eng.Partition(t); p != from.Partition {
			return nil, Position{}, fmt.Errorf("%w: topic %q is in partition %d, the ID in %d", ErrUnknownID, t, p, from.Partition)
		}
	}
	msgs, upTo, err := c.eng.Read(ctx, from, topics)
	if err != nil {
		return nil, Position{}, fmt.Errorf("replay from %q: %w", lastID, err)
	}
	return msgs, upTo, nil
}

// endStitch joins a stitching subscriber's history to its live queue:
// backlog goes first (it does not count against the queue's limits: the
// engine bounds it), then the live messages that follow upTo, and the
// writer may take them. A live message at or before upTo is in the
// history already, so it is dropped, now and when the feed delivers it
// later (see Subscriber.replayed). With no upTo (a resync, or no
// position), every live message is kept.
func (s *Subscriber) endStitch(backlog []*Message, upTo Position) {
	s.mu.Lock()
	if s.state == subEnding { // ended meanwhile: its queue is discarded
		s.stitching = false
		s.mu.Unlock()
		return
	}
	live := make([]*Message, 0, s.q.n)
	for s.q.n > 0 {
		m := s.q.pop()
		if m.pos.SameLog(upTo) && m.pos.Offset <= upTo.Offset {
			s.qBytes -= len(m.data)
			if len(m.data) > s.c.opts.QueueBytes {
				s.bigBytes = 0
			}
			continue
		}
		live = append(live, m)
	}
	for _, m := range backlog {
		s.q.push(m)
		s.qBytes += len(m.data)
		s.backlogSize += len(m.data)
	}
	s.backlog = len(backlog)
	for _, m := range live {
		s.q.push(m)
	}
	// The feed can lag behind the history: what it delivers at or before
	// upTo from now on was replayed too.
	s.replayedTo = upTo
	s.stitching = false
	s.mu.Unlock()
	s.signal()
}
