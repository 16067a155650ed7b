package fanout

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
	replayedTo  []Position    // the end of its history, per partition: the feed may still deliver what precedes it
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
	r, start := s.put(m)
	if start {
		s.host.startWriter(s.drainFn)
	}
	return r
}

// put is enqueue, except that when an on-demand writer is to start it
// returns true instead of starting it: the caller starts it (a fan-out
// does, after its loop: see core.fanout).
func (s *Subscriber) put(m *Message) (enqueueResult, bool) {
	size := len(m.data)
	o := s.opts
	s.mu.Lock()
	if s.state != subActive {
		s.mu.Unlock()
		return notSubscribed, false
	}
	if len(s.replayedTo) > 0 && s.replayed(m) {
		s.mu.Unlock()
		return enqueued, false // it was in the replay
	}
	if p := s.pager; p != nil && !p.reading && p.holds(m) >= 0 {
		s.mu.Unlock()
		return enqueued, false // a page of its history, yet to be read, holds it
	}
	n, bytes := s.q.n-s.backlog, s.qBytes-s.backlogSize-s.bigBytes
	big := size > o.QueueBytes
	maxN, maxBytes := o.QueueSize, o.QueueBytes
	if o.Policy == PolicyBlock { // publishers waited for room: see core.waitForRoom
		maxN, maxBytes = 2*maxN, 2*maxBytes
	}
	if n >= maxN || big && s.bigBytes > 0 || !big && bytes+size > maxBytes {
		if i := s.pagerHolds(m); i >= 0 {
			s.pager.parts[i].overflow = true // a page of its history, yet to be read, holds it
			s.mu.Unlock()
			return enqueued, false
		}
		ev := s.slowEventLocked(SlowQueueFull, 1)
		s.mu.Unlock()
		s.slow(ev)
		return queueFull, false
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
	return enqueued, wake && s.wakeWriter()
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
