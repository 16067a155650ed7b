package enginetest

import (
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// Delivery is one call of Feed.Deliver.
type Delivery struct {
	Topic   string
	Message *fanout.Message
}

// Recorder is a fanout.Feed that records what it is given, for tests of
// an engine without a Hub. It also checks the Feed's contract on its
// callers: calls for one partition are never concurrent.
type Recorder struct {
	mu         sync.Mutex
	deliveries []Delivery
	resets     []Reset
	changed    chan struct{} // closed and replaced at each delivery
	busy       map[int]bool  // partitions with a Deliver in progress
	violations []string
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{}), busy: map[int]bool{}}
}

var _ fanout.Feed = (*Recorder)(nil)

// Deliver records m.
func (r *Recorder) Deliver(topic string, m *fanout.Message) {
	p := m.Position().Partition
	r.mu.Lock()
	if r.busy[p] {
		r.violations = append(r.violations, "concurrent Deliver calls for partition "+m.ID())
	}
	r.busy[p] = true
	r.deliveries = append(r.deliveries, Delivery{Topic: topic, Message: m})
	close(r.changed)
	r.changed = make(chan struct{})
	r.busy[p] = false
	r.mu.Unlock()
}

// Reset records a Feed.Reset call.
func (r *Recorder) Reset(partition int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resets = append(r.resets, Reset{Partition: partition, Err: err})
}

// Reset is one call of Feed.Reset.
type Reset struct {
	Partition int
	Err       error
}

// Resets returns the Feed.Reset calls so far.
func (r *Recorder) Resets() []Reset {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Reset(nil), r.resets...)
}

// Deliveries returns what was delivered so far.
func (r *Recorder) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// Len returns how many messages were delivered.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.deliveries)
}

// Changed returns a channel closed at the next delivery. Take it before
// looking at Deliveries, so that a delivery made in between is not
// missed.
func (r *Recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// WaitChange waits up to d for the next delivery.
func (r *Recorder) WaitChange(d time.Duration) {
	r.mu.Lock()
	ch := r.changed
	r.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// Wait waits up to d for n deliveries in all and returns the first n,
// failing t if they do not come or the feed's contract was broken.
func (r *Recorder) Wait(t testing.TB, n int, d time.Duration) []Delivery {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		got, ch, bad := len(r.deliveries), r.changed, r.violations
		r.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("feed contract broken: %v", bad)
		}
		if got >= n {
			return r.Deliveries()[:n]
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%d deliveries within %v, want %d", got, d, n)
		}
		timer := time.NewTimer(left)
		select {
		case <-ch:
		case <-timer.C:
		}
		timer.Stop()
	}
}
