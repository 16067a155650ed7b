package fanout_test

import (
	"fmt"
	"testing"

	"github.com/fanout-go/fanout"
)

// nopObserver is an Observer that does nothing: what the Hub pays to call
// one, apart from the Observer's own work.
type nopObserver struct{}

var _ fanout.Observer = nopObserver{}

func (nopObserver) BatchWritten(fanout.BatchWrite)                 {}
func (nopObserver) SubscriberSlow(fanout.SlowEvent, fanout.Policy) {}
func (nopObserver) Resynced(fanout.Resync)                         {}

// BenchmarkHub_PublishObserver is BenchmarkHub_Publish without an Observer
// and with one that does nothing, for an A/B of what an Observer costs the
// writers: two clock reads and one call per batch. (Publishing itself
// never looks at the Observer.) A burst of 1 makes each message a batch of
// its own for every subscriber, so the cost shows most there.
func BenchmarkHub_PublishObserver(b *testing.B) {
	for _, o := range []struct {
		name string
		obs  fanout.Observer
	}{{"none", nil}, {"nop", nopObserver{}}} {
		b.Run("observer="+o.name, func(b *testing.B) {
			f := benchStart(b, 100, fanout.HubOptions{DeliveryOptions: fanout.DeliveryOptions{Observer: o.obs}}, "")
			for _, burst := range []int{1, 100} {
				b.Run(fmt.Sprintf("subs=100/burst=%d", burst), func(b *testing.B) {
					benchPublish(b, f, burst)
				})
			}
		})
	}
}
