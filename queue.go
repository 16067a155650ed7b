package fanout

// ring is a FIFO of messages. It grows by doubling, from 16, so an idle
// subscriber holds no queue memory beyond its first burst.
type ring struct {
	buf  []*Message
	head int
	n    int
}

func (r *ring) push(m *Message) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = m
	r.n++
}

func (r *ring) peek() *Message { return r.buf[r.head] }

func (r *ring) pop() *Message {
	m := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return m
}

func (r *ring) grow() {
	size := max(16, 2*len(r.buf))
	buf := make([]*Message, size)
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}

func (r *ring) clear() {
	clear(r.buf)
	r.head, r.n = 0, 0
	r.shrink()
}

// maxIdleRing is the most queue slots an empty ring keeps: a larger one,
// grown by a burst, is freed once drained, so that what a subscriber costs
// at rest does not depend on QueueSize.
const maxIdleRing = 256

// shrink frees an empty ring's buffer when a burst grew it past maxIdleRing.
func (r *ring) shrink() {
	if r.n == 0 && len(r.buf) > maxIdleRing {
		r.buf, r.head = nil, 0
	}
}

// take moves up to MaxBatch messages (MaxBatchBytes of payload, but at
// least one message) from the queue into batch, and reports how many
// messages are left queued and the state, and whether the next page of
// the subscriber's history is to be read now (the writer took the last
// one: see core.nextPage).
func (s *Subscriber) take(batch []*Message) ([]*Message, int, subState, bool) {
	o := &s.c.opts
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
