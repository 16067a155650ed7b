package fanout

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
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

// subWriter is what writes a subscriber's queue to its connection: the sink,
// and what wakes or starts the writer (see below).
type subWriter struct {
	sink     sink
	wake     chan struct{} // capacity 1: "look at the queue and state" (nil when no writer sleeps)
	onDemand atomic.Bool   // writers run on goroutines of their own (see writeOnDemand)
	drainFn  func()        // s.drain
	writing  bool          // such a writer is running, or the last one ran (guarded by Subscriber.mu)
	wctx     context.Context
	wdone    func(why endReason, err error)
	pingDue  atomic.Bool
	kaEvery  time.Duration // keepalive interval; 0: none
}

// The coalescing writer: it sleeps until the queue turns non-empty, then
// writes everything that queued up meanwhile (or while the previous write
// was in flight) as one batch, until the queue is empty again. A lone
// message on an idle writer goes out at once: there is no timer unless
// FlushDelay asks for one.
//
// It runs in one of two ways. On a connection the Hub or Broker took over
// (and one registered with Hub.Register), the writer runs only while
// there is something to do: signal hands the drain to a writer goroutine
// when a message (or a ping, or the end) arrives for an idle subscriber,
// and the drain returns once the queue is empty, so an idle subscriber
// holds no writer goroutine and no stack. The goroutine is one the core
// keeps parked for a while between drains (see writerCache), or a new one. On an SSE response written through the
// ResponseWriter, the handler's goroutine must stay, so it is the writer
// and sleeps in between (run).

// step does what the writer has to do now: a due ping, then, after
// lingering FlushDelay for more, batches until the queue is empty. It
// returns endNone while the subscription goes on, or why it ended.
func (s *Subscriber) step(ctx context.Context) (why endReason, err error) {
	o := s.opts
	if s.pingDue.Swap(false) {
		if err := s.sink.keepalive(ctx, o.WriteTimeout); err != nil {
			if errors.Is(err, errDeadPeer) {
				return endDead, err
			}
			return endClient, err
		}
	}
	if o.FlushDelay > 0 && !s.stopWaiting() {
		delay := time.NewTimer(o.FlushDelay)
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
				delay.Stop()
				return endClient, context.Cause(ctx)
			}
		}
	}
	bp := batchPool.Get().(*[]*Message)
	defer batchPool.Put(bp)
	batch := (*bp)[:0]
	defer func() { *bp = batch[:0] }() // keep what it grew to
	for {
		var (
			st     subState
			queued int
			page   bool
		)
		batch, queued, st, page = s.take(batch[:0])
		if page && s.host.nextPage(s) {
			continue
		}
		if st == subEnding || len(batch) == 0 {
			clear(batch)
			if st == subEnding || st == subDraining {
				return s.reason(), nil
			}
			return endNone, nil
		}
		why, err := s.flush(batch, queued)
		clear(batch) // let written messages be collected
		if why != endNone {
			return why, err
		}
	}
}

// batchPool holds writers' batch scratch space: a writer exists only
// while there is something to write, so it borrows one.
var batchPool = sync.Pool{New: func() any {
	b := make([]*Message, 0, 16)
	return &b
}}

// run is the writer of a subscriber whose writes stay on the caller's
// goroutine: it sleeps until signaled and steps, until the subscription
// ends (why) or ctx is done (endClient).
func (s *Subscriber) run(ctx context.Context) (why endReason, err error) {
	for {
		select {
		case <-s.wake:
		case <-ctx.Done():
			return endClient, context.Cause(ctx)
		}
		if why, err := s.step(ctx); why != endNone {
			return why, err
		}
	}
}

// writeUntilEnd runs the writer on the calling goroutine until the
// subscription ends, then closes the connection for the reason it ended
// with (the first one recorded: a reader's panic, say, rather than the
// cancellation that followed it).
func (s *Subscriber) writeUntilEnd(ctx context.Context) (endReason, error) {
	why, err := s.run(ctx)
	return s.closeFor(why), err
}

// closeFor retires the writer and closes the connection as the
// subscription's end says, and returns its reason.
func (s *Subscriber) closeFor(why endReason) endReason {
	why = s.retire(why)
	s.sink.close(s.farewell(why))
	return why
}

// writeOnDemand makes s's writer run on goroutines of its own, started by
// signal when there is something to do (see above). ctx is the
// subscription's; once it has ended and the connection is closed, the last
// writer calls done with the reason and the error it ended with. What is
// already queued (a replay, a position) is written at once.
func (s *Subscriber) writeOnDemand(ctx context.Context, done func(why endReason, err error)) {
	s.mu.Lock()
	s.wctx, s.wdone = ctx, done
	s.drainFn = s.drain
	s.mu.Unlock()
	s.onDemand.Store(true)
	s.signal()
}

// drain is an on-demand writer: it steps until there is nothing left to
// do, or until the subscription ends, which it then closes and reports.
func (s *Subscriber) drain() {
	s.mu.Lock()
	ctx, done := s.wctx, s.wdone
	s.mu.Unlock()
	for {
		why, err := s.step(ctx)
		if why != endNone {
			// s.writing stays set: no writer starts after this one.
			done(s.closeFor(why), err)
			return
		}
		s.mu.Lock()
		idle := (s.q.n == 0 || s.stitching) && !s.pingDue.Load() &&
			(s.state == subActive || s.state == subRemoved)
		if idle {
			s.writing = false
		}
		s.mu.Unlock()
		if idle {
			return
		}
	}
}

// flush writes one batch, taken with queued messages left behind it, and
// applies the slow-client policy to a write timeout. It returns endNone
// while the subscription goes on.
func (s *Subscriber) flush(batch []*Message, queued int) (endReason, error) {
	obs := s.opts.Observer
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	sent, writes, bytes, err := s.sink.write(batch, s.opts.WriteTimeout)
	resync := errors.Is(err, errPlainResync)
	if resync {
		err = nil // what came before the resync signal was written
	}
	s.stats.batches.Add(1)
	s.stats.writes.Add(uint64(writes))
	s.stats.bytes.Add(uint64(bytes))
	delivered := sent
	for _, m := range batch[:sent] {
		if m.ctl != ctlNone { // a position or resync signal is not a message
			delivered--
		}
	}
	s.stats.delivered.Add(uint64(delivered))
	s.delivered.Add(uint64(delivered))
	if obs != nil {
		obs.BatchWritten(BatchWrite{Subscriber: s, Messages: delivered, Writes: writes, Bytes: bytes,
			Duration: time.Since(start), Queued: queued, Err: err})
	}
	if resync {
		return s.resyncClose(batch[sent]), nil
	}
	if err == nil {
		return endNone, nil
	}
	if s.in(subEnding) {
		return s.reason(), err
	}
	if errors.Is(err, errAborted) {
		// Close interrupted the write, just before it ends the
		// subscription: the end is its, and the peer is told it.
		return endShutdown, err
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return endClient, err
	}
	s.stats.timeouts.Add(1)
	s.mu.Lock()
	ev := s.slowEventLocked(SlowWriteTimeout, len(batch)-sent)
	s.mu.Unlock()
	s.slowFromWriter(ev)
	if s.in(subEnding) {
		return s.reason(), err
	}
	return endNone, nil
}

// resyncClose ends the subscription of a plain WebSocket client for the
// resync signal m, which its framing cannot carry, once what was queued
// before m is written: the client is closed with StatusResync and the
// reason "fanout.resync: " and m's reason (see ResyncReason.String), and
// what was queued after m is discarded. A client that reconnects knows
// that it lost messages; bytes the application did not publish never
// reach it. It returns why the subscription ends: the first reason
// recorded, when another came first (Shutdown, say).
func (s *Subscriber) resyncClose(m *Message) endReason {
	s.mu.Lock()
	if s.why == endNone { // the reason and its words together: CloseWith cannot come between
		s.why = endResync
		s.closeReason = ResyncEvent + ": " + string(m.data)
	}
	s.mu.Unlock()
	s.end(endResync, false)
	return s.reason()
}

// slowFromWriter applies the policy for a write timeout. OnSlow runs on the
// writer here, a goroutine the library owns: a panic ends the subscriber.
func (s *Subscriber) slowFromWriter(ev SlowEvent) {
	defer s.host.recovered("OnSlow", s, nil)
	s.slow(ev)
}

// stopWaiting reports whether a FlushDelay wait should end early: a full
// batch is queued, or the subscription is ending.
func (s *Subscriber) stopWaiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.n >= s.opts.MaxBatch || s.state == subEnding || s.state == subDraining
}

// wakeChan returns the channel that wakes the writer of a subscriber of c
// writing to sk, where one sleeps: on the goroutine of an SSE response
// written through its ResponseWriter (see run), or lingering in
// FlushDelay. On-demand writers need none otherwise: an idle subscriber
// holds none.
func wakeChan(flushDelay time.Duration, sk sink) chan struct{} {
	if _, loop := sk.(*sseSink); loop || flushDelay > 0 {
		return make(chan struct{}, 1)
	}
	return nil
}

// signal tells the writer there is something to do, without blocking: it
// wakes a writer that sleeps (or lingers in FlushDelay), or starts an
// on-demand one when none runs.
func (s *Subscriber) signal() {
	if s.wakeWriter() {
		s.host.startWriter(s.drainFn) // a func value made once: a method value would allocate
	}
}

// wakeWriter is signal, except that when an on-demand writer is to start
// it returns true instead of starting it: the caller must start it.
func (s *Subscriber) wakeWriter() bool {
	if s.wake != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if !s.onDemand.Load() {
		return false
	}
	s.mu.Lock()
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	return start
}
