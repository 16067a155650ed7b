package fanoutprom_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
)

// BenchmarkObserver_BatchWritten measures what the Observer adds to each
// batch write of a Hub's writer (beyond the two clock readings and the
// call that the Hub makes for any Observer: see the fanout module's
// BenchmarkFlush): three histogram observations. In parallel, as many
// writers observe at once.
func BenchmarkObserver_BatchWritten(b *testing.B) {
	obs := fanoutprom.NewObserver(nil)
	hub := fanout.NewHub(&fanout.HubOptions{DeliveryOptions: fanout.DeliveryOptions{Observer: obs}, PingInterval: -1})
	defer hub.Close()
	srv := httptest.NewServer(hub)
	defer srv.Close()
	c := dialWS(b, srv.URL+"/?topic=t")
	defer func() { _ = c.conn.CloseNow() }()
	subs := hub.Subscribers()
	if len(subs) != 1 {
		b.Fatalf("%d subscribers", len(subs))
	}
	w := fanout.BatchWrite{Subscriber: subs[0], Messages: 8, Writes: 1, Bytes: 600, Duration: 30 * time.Microsecond, Queued: 3}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obs.BatchWritten(w)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				obs.BatchWritten(w)
			}
		})
	})
}
