package redis

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/fanout-go/fanout"
)

// Group commit: a script call's fixed cost (the call itself, then
// ensure's read of the meta hash, TIME and checks) is about half of a
// publish's Redis CPU. So the publishes of a partition that come while
// one of its publish calls is in flight share the next call: a Publish
// queues its message, and if no call of the partition is in flight, it
// starts one (a leader) with everything queued (maxBatch messages and
// maxBatchBytes at most; the rest waits for the next call). When the
// call returns, the leader takes the next batch, until the queue is
// empty. A lone publisher's calls hold one message each.
//
// One call of a partition is in flight at a time: the batches are
// stored in the order of their messages' Publish calls (a caller's
// sequential publishes stay in order: each returns once stored). A
// Publish whose context ends while its message is queued takes it out:
// never stored. One whose batch was sent gives up as store's (fence.go):
// the call runs on under the engine's context (no caller's context can
// cancel a batch), and the partition is fenced until it ends.
//
// The leader is the Publish's own goroutine when its context cannot end
// (it waits for the call anyway), else a goroutine of the engine's,
// which serves batches until the queue is empty: one per burst, not one
// per publish.
//
// Batches grow with concurrency only as far as the publishers run while
// a call is in flight: with 64 publishers over 2 cores, most are
// runnable but not yet run when a call returns, and the next batch held
// 1.85 messages on average. So a leader about to take a batch yields its
// core once first (runtime.Gosched), letting the runnable publishers
// queue theirs, but only where the partition shows concurrent publishers:
// one of its last crowdBatches batches held more than one message, or a
// publish was queued while a call was in flight. (The evidence outlasts
// a batch: publishers that come in bursts meet an idle partition at a
// burst's start, whose first batch is the one to grow.) A lone
// sequential publisher shows neither (its next publish comes after its
// call returned), so it never yields: it would otherwise wait behind
// every runnable goroutine of the process at saturation, for nothing to
// share its call with. (bench/ -nodes 3 -publishers 64, 1 topic: 0.54 ->
// 0.47 calls per message, medians of 15 rounds; a yield reaches only the
// publishers this process runs, not those the OS has yet to run it for:
// bench/results/nodes-topic1-p64-rcpu-ab.txt.)

const (
	maxBatch      = 64        // messages per publish call at most
	maxBatchBytes = 256 << 10 // their topics' and data's bytes at most (a larger message goes alone)
	crowdBatches  = 8         // batches a leader yields before, after the last evidence of concurrent publishers
)

// committer queues a partition's publishes (see above).
type committer struct {
	mu     sync.Mutex
	queue  []*pending
	active bool // a leader serves the queue
	// Evidence of concurrent publishers (see above): the batches a
	// leader still yields before, whether a call is in flight, and
	// whether a publish was queued while one was (since the last batch
	// was taken).
	crowd    int
	inflight bool
	joined   bool
	yields   int // times a leader yielded (for tests)
}

// pending is a queued publish.
type pending struct {
	topic, kind, data string
	done              chan error // its result, once (buffered)
	sent              bool       // in a batch sent to Redis: no longer in the queue
	finished          bool       // its result is in done
	abandoned         bool       // its caller gave up after it was sent: the fence is held
}

func (d *pending) size() int { return len(d.topic) + len(d.kind) + len(d.data) }

// commit stores a message of partition p (see above).
func (e *Engine) commit(ctx context.Context, p *part, topic, kind, data string) error {
	if err := p.fence.wait(ctx); err != nil {
		return err
	}
	d := &pending{topic: topic, kind: kind, data: data, done: make(chan error, 1)}
	c := &p.commit
	c.mu.Lock()
	c.queue = append(c.queue, d)
	c.joined = c.joined || c.inflight
	if !c.active {
		if ctx.Done() == nil { // it cannot give up: it leads, then hands on
			c.active = true
			c.mu.Unlock()
			for !e.commitBatch(p, d) {
			}
			e.handOn(p)
			return <-d.done
		}
		if !e.startGoroutine() {
			c.queue = c.queue[:len(c.queue)-1]
			c.mu.Unlock()
			return fanout.ErrClosed
		}
		c.active = true
		go func() {
			defer e.wg.Done()
			for !e.commitBatch(p, nil) {
			}
		}()
	}
	c.mu.Unlock()
	select {
	case err := <-d.done:
		return err
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case d.finished:
		return <-d.done
	case !d.sent: // still queued: never stored
		for i, q := range c.queue {
			if q == d {
				c.queue = slices.Delete(c.queue, i, i+1)
				break
			}
		}
		return fmt.Errorf("queued: %w", context.Cause(ctx))
	}
	d.abandoned = true
	p.fence.hold()
	return context.Cause(ctx)
}

// handOn passes p's queue to a goroutine once the leader that was a
// caller's returns (its own message stored): what came meanwhile.
func (e *Engine) handOn(p *part) {
	c := &p.commit
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.active = false
		return
	}
	if !e.startGoroutine() {
		for _, d := range c.queue {
			d.finished = true
			d.done <- fanout.ErrClosed
		}
		c.queue, c.active = nil, false
		return
	}
	go func() {
		defer e.wg.Done()
		for !e.commitBatch(p, nil) {
		}
	}()
}

// commitBatch sends p's next batch in one call and hands each message its
// result. It reports whether it is done: own's result is in (nil: the
// queue was empty, and the leader is no more).
func (e *Engine) commitBatch(p *part, own *pending) bool {
	c := &p.commit
	c.mu.Lock()
	if c.joined {
		c.crowd = crowdBatches
	}
	if c.crowd > 0 && len(c.queue) > 0 && len(c.queue) < maxBatch {
		c.yields++
		c.mu.Unlock()
		runtime.Gosched() // the runnable publishers queue theirs (see above)
		c.mu.Lock()
	}
	n, bytes := 0, 0
	for n < len(c.queue) && n < maxBatch && (n == 0 || bytes+c.queue[n].size() <= maxBatchBytes) {
		bytes += c.queue[n].size()
		n++
	}
	if n == 0 {
		if own == nil {
			c.active = false
		}
		c.mu.Unlock()
		return true
	}
	batch := slices.Clone(c.queue[:n])
	c.queue = slices.Delete(c.queue, 0, n) // (it clears what it leaves: no message kept alive)
	for _, d := range batch {
		d.sent = true
	}
	switch {
	case n > 1:
		c.crowd = crowdBatches
	case c.crowd > 0:
		c.crowd--
	}
	c.inflight, c.joined = true, false
	c.mu.Unlock()

	err := e.publishBatch(e.ctx, p, batch) // not a caller's: it may give up; Close ends it
	c.mu.Lock()
	c.inflight = false
	mine := false
	for _, d := range batch {
		d.finished = true
		if d.abandoned {
			p.fence.release()
		}
		d.done <- err
		mine = mine || d == own
	}
	c.mu.Unlock()
	return own != nil && mine
}

// publishBatch runs the publish script once for batch, all of partition
// p (see script.Publish).
func (e *Engine) publishBatch(ctx context.Context, p *part, batch []*pending) error {
	first := batch[0]
	args := e.publishArgs(p, first.topic, first.kind, first.data)
	for _, d := range batch[1:] {
		args = append(args, p.channelOf(d.topic), d.topic, d.kind, d.data)
	}
	return e.published(p, e.publishScript.exec(ctx, e.client, p.id, e.publishKeys(p), args))
}
