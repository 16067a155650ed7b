package redis

import (
	"context"
	"fmt"
	"sync"

	"github.com/fanout-go/fanout"
)

// A Publish whose context ends before Redis answers gives up waiting, but
// its command may still be queued on a connection (rueidis spreads
// commands over several), to be run when that connection moves again:
// after a later Publish of the same caller that took another connection.
// Subscribers would then get the later message first, and the one whose
// Publish failed after it. So a Publish that gives up leaves its command
// running under the engine's own context, and the partitions it writes
// to are fenced until that command has ended (answered, or its connection
// closed: then only bytes already on the wire can still reach Redis):
// later publishes to them wait for it, within their own context. A failed Publish is thus stored
// before the caller's next ones or not at all. Publishes that do not give
// up never wait for each other here (but a partition's publishes are
// sent one batch at a time: see commit.go, which holds the fence for a
// message that gave up after its batch was sent).

// fence counts a partition's publishes that gave up and are still in
// flight.
type fence struct {
	mu        sync.Mutex
	abandoned int
	clear     chan struct{} // closed when abandoned drops to 0
}

// wait returns once no publish that gave up is in flight, or with ctx's
// error.
func (f *fence) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		if f.abandoned == 0 {
			f.mu.Unlock()
			return nil
		}
		clear := f.clear
		f.mu.Unlock()
		select {
		case <-clear:
		case <-ctx.Done():
			return fmt.Errorf("waiting for an earlier publish that gave up: %w", context.Cause(ctx))
		}
	}
}

func (f *fence) hold() {
	f.mu.Lock()
	if f.abandoned == 0 {
		f.clear = make(chan struct{})
	}
	f.abandoned++
	f.mu.Unlock()
}

func (f *fence) release() {
	f.mu.Lock()
	if f.abandoned--; f.abandoned == 0 {
		close(f.clear)
	}
	f.mu.Unlock()
}

// flight is one publish command run on a goroutine of the engine's.
type flight struct {
	done      chan error // its result, once
	mu        sync.Mutex
	finished  bool
	abandoned bool // its caller gave up: parts are held
}

// store runs exec, a publish to parts, in their order (see above): a
// broadcast's (the group commit, commit.go, stores the others).
func (e *Engine) store(ctx context.Context, parts []*part, exec func(context.Context) error) error {
	for _, p := range parts {
		if err := p.fence.wait(ctx); err != nil {
			return err
		}
	}
	if ctx.Done() == nil { // it cannot give up
		return exec(ctx)
	}
	if !e.startGoroutine() {
		return fanout.ErrClosed
	}
	fl := &flight{done: make(chan error, 1)}
	go func() {
		defer e.wg.Done()
		err := exec(e.ctx) // not the caller's: it may give up; Close ends it
		fl.mu.Lock()
		fl.finished = true
		if fl.abandoned {
			for _, p := range parts {
				p.fence.release()
			}
		}
		fl.mu.Unlock()
		fl.done <- err
	}()
	select {
	case err := <-fl.done:
		return err
	case <-ctx.Done():
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.finished {
		return <-fl.done
	}
	fl.abandoned = true
	for _, p := range parts {
		p.fence.hold()
	}
	return context.Cause(ctx)
}
