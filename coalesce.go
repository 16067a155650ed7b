package fanout

import (
	"context"
	"errors"
	"os"
	"time"
)

// sink is the transport under a subscriber's writer: a WebSocket connection
// (and, for the Broker, an SSE response).
type sink interface {
	// write sends batch, coalesced into as few socket writes as the
	// transport allows (one, for connections the Hub accepted), within
	// timeout (0: none). It returns how many leading messages of batch were
	// sent (or are committed to be), how many socket writes it made, and the
	// bytes written.
	write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error)
	// keepalive sends a ping (or heartbeat). It fails with errDeadPeer when
	// the previous ping went unanswered.
	keepalive(ctx context.Context, timeout time.Duration) error
	// abort makes a blocked write return promptly. Safe from any goroutine.
	abort()
	// close ends the connection as f says. It may block, within the
	// transport's own bounds.
	close(f farewell)
	// kill cuts the connection now. Safe from any goroutine.
	kill()
}

var errDeadPeer = errors.New("fanout: peer did not answer ping")

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
// messages are left queued and the state.
func (s *Subscriber) take(batch []*Message) ([]*Message, int, subState) {
	o := &s.c.opts
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stitching { // its history is being read: what is queued waits for it
		return batch, s.q.n, s.state
	}
	n := 0
	for s.q.n > 0 && len(batch) < o.MaxBatch {
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
	return batch, s.q.n, s.state
}

// run is the subscriber's coalescing writer. It sleeps until the queue
// turns non-empty, then writes everything that queued up meanwhile (or
// while the previous write was in flight) as one batch, until the queue is
// empty again. A lone message on an idle writer goes out at once: there is
// no timer unless FlushDelay asks for one. run returns when the
// subscription ends (why) or ctx is done (endClient).
func (s *Subscriber) run(ctx context.Context) (why endReason, err error) {
	o := &s.c.opts
	var (
		batch []*Message
		delay *time.Timer
	)
	defer func() {
		if delay != nil {
			delay.Stop()
		}
	}()
	for {
		select {
		case <-s.wake:
		case <-ctx.Done():
			return endClient, context.Cause(ctx)
		}
		if s.pingDue.Swap(false) {
			if err := s.sink.keepalive(ctx, o.WriteTimeout); err != nil {
				if errors.Is(err, errDeadPeer) {
					return endDead, err
				}
				return endClient, err
			}
		}
		if o.FlushDelay > 0 && !s.stopWaiting() {
			if delay == nil {
				delay = time.NewTimer(o.FlushDelay)
			} else {
				delay.Reset(o.FlushDelay)
			}
		linger:
			for {
				select {
				case <-delay.C:
					break linger
				case <-s.wake: // the batch filled up, or the subscription is ending
					if s.stopWaiting() {
						delay.Stop()
						break linger
					}
				case <-ctx.Done():
					return endClient, context.Cause(ctx)
				}
			}
		}
		for {
			var (
				st     subState
				queued int
			)
			batch, queued, st = s.take(batch[:0])
			if st == subEnding || len(batch) == 0 {
				clear(batch)
				if st == subEnding || st == subDraining {
					return s.reason(), nil
				}
				break
			}
			why, err := s.flush(batch, queued)
			clear(batch) // let written messages be collected
			if why != endNone {
				return why, err
			}
		}
	}
}

// writeUntilEnd runs the writer until the subscription ends, then closes
// the connection for the reason it ended with (the first one recorded: a
// reader's panic, say, rather than the cancellation that followed it).
func (s *Subscriber) writeUntilEnd(ctx context.Context) (endReason, error) {
	why, err := s.run(ctx)
	why = s.retire(why)
	s.sink.close(s.farewell(why))
	return why, err
}

// flush writes one batch, taken with queued messages left behind it, and
// applies the slow-client policy to a write timeout. It returns endNone
// while the subscription goes on.
func (s *Subscriber) flush(batch []*Message, queued int) (endReason, error) {
	c := s.c
	obs := c.opts.Observer
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	sent, writes, bytes, err := s.sink.write(batch, c.opts.WriteTimeout)
	c.stats.batches.Add(1)
	c.stats.writes.Add(uint64(writes))
	c.stats.bytes.Add(uint64(bytes))
	delivered := sent
	for _, m := range batch[:sent] {
		if m.ctl != ctlNone { // a position or resync signal is not a message
			delivered--
		}
	}
	c.stats.delivered.Add(uint64(delivered))
	s.delivered.Add(uint64(delivered))
	if obs != nil {
		obs.BatchWritten(BatchWrite{Subscriber: s, Messages: delivered, Writes: writes, Bytes: bytes,
			Duration: time.Since(start), Queued: queued, Err: err})
	}
	if err == nil {
		return endNone, nil
	}
	if s.ending() {
		return s.reason(), err
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return endClient, err
	}
	c.stats.timeouts.Add(1)
	s.mu.Lock()
	ev := s.slowEventLocked(SlowWriteTimeout, len(batch)-sent)
	s.mu.Unlock()
	s.slowFromWriter(ev)
	if s.ending() {
		return s.reason(), err
	}
	return endNone, nil
}

// slowFromWriter applies the policy for a write timeout. OnSlow runs on the
// writer here, a goroutine the library owns: a panic ends the subscriber.
func (s *Subscriber) slowFromWriter(ev SlowEvent) {
	defer s.c.recovered("OnSlow", s, nil)
	s.slow(ev)
}

// stopWaiting reports whether a FlushDelay wait should end early: a full
// batch is queued, or the subscription is ending.
func (s *Subscriber) stopWaiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.n >= s.c.opts.MaxBatch || s.state == subEnding || s.state == subDraining
}

func (s *Subscriber) ending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == subEnding
}

func (s *Subscriber) reason() endReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.why == endNone {
		return endClient
	}
	return s.why
}
