package fanout

import "slices"

// pager is what a resuming subscriber has left of its history to read:
// the pages after from, in each partition of parts. It is guarded by the
// subscriber's mu, and read only by its writer (or, for the first pages,
// by core.subscribe).
//
// The partitions are read one after the other, a page at a time, the
// first of parts next; meanwhile the live messages of every partition
// left to read are not queued (a later page holds them), so that what a
// resuming subscriber holds is a page and its live messages of other
// kinds, whatever the number of partitions. Order across partitions is
// not defined, only within each.
type pager struct {
	parts   []pagePart // the partitions left to read, the next first
	topics  []string   // the topics the history is read for (those of the resume)
	needs   []int      // every partition the subscriber follows (for the position after a resync)
	home    int        // the partition its broadcasts come from
	reading bool       // a page is being read: the messages it may miss are queued
}

// pagePart is one partition of a pager.
type pagePart struct {
	from Position // the end of the last page queued: the next one starts after it
	// overflow: while a page was read, a live message that it may miss
	// found the queue full, and was dropped: another page must follow.
	overflow bool
}

// pageEnd is where a page of one partition ended: upTo, and whether more
// pages follow it.
type pageEnd struct {
	upTo Position
	more bool
}

// holds returns the index in p.parts of the partition whose history,
// being paged, holds m (a page read or will read it, so it need not be
// queued live), or -1.
func (p *pager) holds(m *Message) int {
	if m.topic != "" && !slices.Contains(p.topics, m.topic) {
		return -1
	}
	return p.pending(m.pos)
}

// pending returns the index in p.parts of pos's log, or -1.
func (p *pager) pending(pos Position) int {
	for i := range p.parts {
		if pos.SameLog(p.parts[i].from) {
			return i
		}
	}
	return -1
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
// Shutdown, or was removed): its live messages of the logs left to read,
// which follow what it did not read, are dropped with them, so that the
// client's last ID of each partition is the end of what it got in order,
// and it resumes from there. s.mu is held.
func (s *Subscriber) abandonPagesLocked() {
	p := s.pager
	if p == nil {
		return
	}
	s.pager = nil
	page := s.backlog // the page queued, at the head: kept
	for i := range s.q.n {
		m := s.q.pop()
		if i >= page && p.pending(m.pos) >= 0 {
			s.qBytes -= len(m.data)
			if len(m.data) > s.opts.QueueBytes {
				s.bigBytes = 0
			}
			continue
		}
		s.q.push(m)
	}
}

// queuePage queues a page of s's history (or the signals that replace it)
// ahead of its live messages, which the writer may take once the history
// is done, and ends the stitching of a new subscriber. ends says where the
// page ended in each partition it read (or, after a resync or for a new
// subscriber, the position the stream starts from in each); stop ends the
// paging of every partition (a resync). The page does not count against
// the queue's limits: the page limit bounds it.
//
// While partitions have more pages to read, the live messages that a later
// page holds are dropped, and are not queued until the next page is being
// read (see pager.holds): so a long replay costs a page, not the messages
// published meanwhile, and they never make its subscriber slow. One that
// finds the queue full while a page is read is dropped too, and another
// page of its partition follows, which holds it.
// Otherwise, the live messages at or before a partition's end are in the
// history already, so they are dropped, now and when the feed delivers
// them later (see Subscriber.replayed). With no end (a resync without
// position, or no position), every live message is kept. It reports
// whether s is still there to take the page.
func (s *Subscriber) queuePage(page []*Message, ends []pageEnd, stop bool) bool {
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
	if stop {
		p = nil
	}
	for _, e := range ends {
		i := -1
		if p != nil {
			i = p.partIndex(e.upTo.Partition)
		}
		if i >= 0 && p.parts[i].overflow && !e.upTo.IsZero() {
			// What it dropped follows upTo: the next page reads it.
			e.more = true
		}
		switch {
		case i >= 0 && e.more:
			p.parts[i] = pagePart{from: e.upTo}
		case i >= 0:
			p.parts = slices.Delete(p.parts, i, i+1)
			fallthrough
		default:
			// The feed can lag behind the history: what it delivers at or
			// before upTo from now on was replayed too.
			s.setReplayedLocked(e.upTo)
		}
	}
	if p != nil && len(p.parts) == 0 {
		p = nil // nil: paging done, or stopped (closing)
	}
	live := make([]*Message, 0, s.q.n)
	for s.q.n > 0 {
		m := s.q.pop()
		drop := p != nil && p.holds(m) >= 0
		for _, e := range ends {
			drop = drop || m.pos.SameLog(e.upTo) && m.pos.Offset <= e.upTo.Offset
		}
		if drop {
			s.qBytes -= len(m.data)
			if len(m.data) > s.opts.QueueBytes {
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
	if p != nil {
		p.reading = false
	}
	s.pager = p
	s.stitching = false
	s.mu.Unlock()
	s.signal()
	return true
}

// partIndex returns the index in p.parts of partition, or -1.
func (p *pager) partIndex(partition int) int {
	for i := range p.parts {
		if p.parts[i].from.Partition == partition {
			return i
		}
	}
	return -1
}

// setReplayedLocked records upTo (unless zero) as the end of s's history
// in its partition. s.mu is held.
func (s *Subscriber) setReplayedLocked(upTo Position) {
	if upTo.IsZero() {
		return
	}
	for i := range s.replayedTo {
		if s.replayedTo[i].Partition == upTo.Partition {
			s.replayedTo[i] = upTo
			return
		}
	}
	s.replayedTo = append(s.replayedTo, upTo)
}

// replayed reports whether m was in the history s was given when it
// subscribed, so must not be queued again. The feed delivers each
// partition in position order, so the first message of a partition past
// its history ends the check there. s.mu must be held.
func (s *Subscriber) replayed(m *Message) bool {
	if m.pos.IsZero() { // not stored: Send, BroadcastFilter, a signal
		return false
	}
	for i, r := range s.replayedTo {
		if r.Partition != m.pos.Partition {
			continue
		}
		if m.pos.SameLog(r) && m.pos.Offset <= r.Offset {
			return true
		}
		s.replayedTo = slices.Delete(s.replayedTo, i, i+1)
		return false
	}
	return false
}

// pagerHolds returns s.pager.holds(m), or -1 without a pager. s.mu is
// held.
func (s *Subscriber) pagerHolds(m *Message) int {
	if s.pager == nil {
		return -1
	}
	return s.pager.holds(m)
}
