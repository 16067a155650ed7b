package fanout

import "slices"

// fifo is a subscriber's queue of messages (not to be confused with the
// replay Ring). It grows by doubling, from 16, so an idle subscriber holds
// no queue memory beyond its first burst.
type fifo struct {
	buf  []*Message
	head int
	n    int
}

func (q *fifo) push(m *Message) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = m
	q.n++
}

func (q *fifo) peek() *Message { return q.buf[q.head] }

func (q *fifo) pop() *Message {
	m := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return m
}

func (q *fifo) grow() {
	size := max(16, 2*len(q.buf))
	buf := make([]*Message, size)
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = buf, 0
}

func (q *fifo) clear() {
	clear(q.buf)
	q.head, q.n = 0, 0
	q.shrink()
}

// maxIdleFifo is the most queue slots an empty fifo keeps: a larger one,
// grown by a burst, is freed once drained, so that what a subscriber costs
// at rest does not depend on QueueSize.
const maxIdleFifo = 256

// shrink frees an empty fifo's buffer when a burst grew it past maxIdleFifo.
func (q *fifo) shrink() {
	if q.n == 0 && len(q.buf) > maxIdleFifo {
		q.buf, q.head = nil, 0
	}
}

// subQueue is a subscriber's queue and what bounds it: the messages waiting
// for its writer, the history it stitches and pages in ahead of them, and
// the room publishers wait for. Subscriber.mu guards it.
type subQueue struct {
	q           fifo
	qBytes      int
	backlog     int           // replayed messages at the head of q: they do not count against the limits
	backlogSize int           // their payload bytes
	bigBytes    int           // the payload of the message larger than QueueBytes that waits (0: none); not counted against QueueBytes
	stitching   bool          // resuming: live messages queue, the writer waits for the history (see core.subscribe)
	pager       *pager        // the pages of its history left to read (see queuePage); nil: none
	room        chan struct{} // closed when the queue has room again, for publishers waiting (PolicyBlock)
	replayedTo  Position      // the end of its history: the feed may still deliver what precedes it
}

// take moves up to MaxBatch messages (MaxBatchBytes of payload, but at
// least one message) from the queue into batch, and reports how many
// messages are left queued and the state, and whether the next page of
// the subscriber's history is to be read now (the writer took the last
// one: see core.nextPage).
func (s *Subscriber) take(batch []*Message) ([]*Message, int, subState, bool) {
	o := s.opts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stitching { // its history is being read: what is queued waits for it
		return batch, s.q.n, s.state, false
	}
	// More history to read: the live messages wait behind it. Only an
	// active subscriber's is read; one that drains for Shutdown, or was
	// removed, is written what is queued, and its client resumes from
	// there.
	if s.pager != nil && s.state != subActive {
		s.abandonPagesLocked()
	}
	paging := s.pager != nil
	n := 0
	for s.q.n > 0 && len(batch) < o.MaxBatch {
		if paging && s.backlog == 0 {
			break
		}
		size := len(s.q.peek().data)
		if len(batch) > 0 && n+size > o.MaxBatchBytes {
			break
		}
		batch = append(batch, s.q.pop())
		n += size
		switch {
		case s.backlog > 0:
			s.backlog--
			s.backlogSize -= size
		case size > o.QueueBytes:
			s.bigBytes = 0 // the one oversized message that waited
		}
	}
	s.qBytes -= n
	s.q.shrink()
	s.freeRoomLocked()
	return batch, s.q.n, s.state, paging && len(batch) == 0
}

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

// isFull reports whether s's queue is full (see QueueSize, QueueBytes).
func (s *Subscriber) isFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fullLocked()
}

func (s *Subscriber) fullLocked() bool {
	o := s.opts
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

type enqueueResult uint8

const (
	enqueued enqueueResult = iota
	queueFull
	notSubscribed
)

// enqueue queues m without blocking; on a full queue it applies the
// slow-client policy.
//
// The queue is full when it holds QueueSize messages, or when m would take
// the bytes it holds past QueueBytes. A message larger than QueueBytes is
// not counted in those bytes: it fits behind anything, and anything that
// fits fits behind it, so that one large message never makes a reading
// subscriber slow, whether or not its writer has taken it yet. Only one
// such message may wait at a time: a second one, arriving before the
// writer took the first, finds the queue full. So a subscriber's queue
// pins at most QueueBytes plus one larger message.
func (s *Subscriber) enqueue(m *Message) enqueueResult {
	size := len(m.data)
	o := s.opts
	s.mu.Lock()
	if s.state != subActive {
		s.mu.Unlock()
		return notSubscribed
	}
	if s.replayedTo.Epoch != "" && s.replayed(m) {
		s.mu.Unlock()
		return enqueued // it was in the replay
	}
	if p := s.pager; p != nil && !p.reading && p.holds(m) {
		s.mu.Unlock()
		return enqueued // a page of its history, yet to be read, holds it
	}
	n, bytes := s.q.n-s.backlog, s.qBytes-s.backlogSize-s.bigBytes
	big := size > o.QueueBytes
	maxN, maxBytes := o.QueueSize, o.QueueBytes
	if o.Policy == PolicyBlock { // publishers waited for room: see core.waitForRoom
		maxN, maxBytes = 2*maxN, 2*maxBytes
	}
	if n >= maxN || big && s.bigBytes > 0 || !big && bytes+size > maxBytes {
		if p := s.pager; p != nil && p.holds(m) {
			p.overflow = true // a page of its history, yet to be read, holds it
			s.mu.Unlock()
			return enqueued
		}
		ev := s.slowEventLocked(SlowQueueFull, 1)
		s.mu.Unlock()
		s.slow(ev)
		return queueFull
	}
	s.q.push(m)
	s.qBytes += size
	if big {
		s.bigBytes = size
	}
	// Wake the writer when there is news: the queue was empty, or (for a
	// writer lingering in FlushDelay) a full batch is waiting.
	wake := s.q.n == 1 || (s.q.n == s.opts.MaxBatch && s.opts.FlushDelay > 0)
	s.mu.Unlock()
	if wake {
		s.signal()
	}
	return enqueued
}

// replayed reports whether m was in the history s was given when it
// subscribed, so must not be queued again. The feed delivers in position
// order, so the first message past the history ends the check. s.mu must
// be held.
func (s *Subscriber) replayed(m *Message) bool {
	switch {
	case m.pos.IsZero(): // not stored: Send, BroadcastFilter, a signal
		return false
	case m.pos.SameLog(s.replayedTo) && m.pos.Offset <= s.replayedTo.Offset:
		return true
	}
	s.replayedTo = Position{}
	return false
}

// slowEventLocked describes a slow event concerning n messages, with the
// queue as it stands; s.mu must be held.
func (s *Subscriber) slowEventLocked(r SlowReason, n int) SlowEvent {
	return SlowEvent{Subscriber: s, Reason: r, Policy: s.opts.Policy,
		QueueLen: s.q.n, QueueBytes: s.qBytes, Messages: n}
}

// slow applies the slow-client policy for ev. The messages ev concerns are
// counted as dropped whatever the policy: none of them reach the client.
func (s *Subscriber) slow(ev SlowEvent) {
	p := ev.Policy
	if s.opts.OnSlow != nil {
		p = s.opts.OnSlow(ev)
	}
	if p != PolicyDrop && p != PolicyRemove {
		p = PolicyClose // the default, for a policy not known
	}
	s.opts.Logger.Debug("fanout: slow subscriber", "subscriber", s.id,
		"reason", ev.Reason, "policy", p, "queue", ev.QueueLen, "messages", ev.Messages)
	s.dropped.Add(uint64(ev.Messages))
	s.stats.dropped.Add(uint64(ev.Messages))
	switch p {
	case PolicyRemove:
		if s.remove() {
			s.stats.slowRemoved.Add(1)
		}
	case PolicyClose:
		if s.end(endSlow, false) {
			s.stats.slowClosed.Add(1)
		}
	}
	if o := s.opts.Observer; o != nil {
		o.SubscriberSlow(ev, p)
	}
}
