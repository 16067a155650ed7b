package fanout

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// discardSink is a sink whose writes succeed at once, so that only the
// writer's own work is measured.
type discardSink struct{}

func (discardSink) write(batch []*Message, _ time.Duration) (int, int, int, error) {
	n := 0
	for _, m := range batch {
		n += len(m.data)
	}
	return len(batch), 1, n, nil
}
func (discardSink) keepalive(context.Context, time.Duration) error { return nil }
func (discardSink) abort()                                         {}
func (discardSink) close(farewell)                                 {}
func (discardSink) kill()                                          {}

type nopObserver struct{}

func (nopObserver) BatchWritten(BatchWrite)          {}
func (nopObserver) SubscriberSlow(SlowEvent, Policy) {}
func (nopObserver) Resynced(Resync)                  {}

// flushFixture returns a subscriber writing to a discardSink, on a core
// with obs (nil: none), and a batch of n messages.
func flushFixture(tb testing.TB, obs Observer, n int) (*Subscriber, []*Message) {
	c := newCore(DeliveryOptions{Observer: obs}, Limits{}, nil, nil, formatWS)
	tb.Cleanup(c.close)
	s := newSubscriber(c, nil, "", discardSink{}, noHooks, Grant{})
	batch := make([]*Message, n)
	for i := range batch {
		batch[i] = NewMessage([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
		if err := c.prepare(batch[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return s, batch
}

// TestFlush_ObserverAllocatesNothing pins that a writer's batch costs no
// allocation, with an Observer or without.
func TestFlush_ObserverAllocatesNothing(t *testing.T) {
	for name, obs := range map[string]Observer{"none": nil, "nop": nopObserver{}} {
		s, batch := flushFixture(t, obs, 8)
		if n := testing.AllocsPerRun(100, func() { _, _ = s.flush(batch, 0) }); n != 0 {
			t.Errorf("observer %s: a batch write allocates %v times, want 0", name, n)
		}
	}
}

// BenchmarkFlush measures what a writer does around one batch write
// (counting it in Stats, and telling the Observer), with the socket write
// itself taken out: without an Observer, and with one that does nothing,
// for an A/B of what attaching one costs each batch.
func BenchmarkFlush(b *testing.B) {
	for _, o := range []struct {
		name string
		obs  Observer
	}{{"none", nil}, {"nop", nopObserver{}}} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("observer=%s/batch=%d", o.name, n), func(b *testing.B) {
				s, batch := flushFixture(b, o.obs, n)
				b.ReportAllocs()
				for b.Loop() {
					_, _ = s.flush(batch, 0)
				}
			})
		}
	}
}
