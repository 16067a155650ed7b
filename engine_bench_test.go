package fanout_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// BenchmarkPublish_SlowStore measures what a store that does I/O costs a
// publisher: a Hub over a Ring behind a store that waits latency on every
// call (Append, Read, Head), with 10 subscribers, while 0 or 50 other
// clients resume (reconnect with an ID, which reads the store) over and
// over. Each op is one Publish to a topic none of the resuming clients
// follow; p50-ms and p99-ms are its latency. With publishers=8, eight
// goroutines publish at once and pubs/s is the total rate: a Publish
// does not wait for another's I/O.
func BenchmarkPublish_SlowStore(b *testing.B) {
	for _, latency := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond} {
		for _, resuming := range []int{0, 50} {
			for _, pubs := range []int{1, 8} {
				b.Run(fmt.Sprintf("latency=%v/resuming=%d/publishers=%d", latency, resuming, pubs), func(b *testing.B) {
					benchSlowStore(b, latency, resuming, pubs)
				})
			}
		}
	}
}

func benchSlowStore(b *testing.B, latency time.Duration, resuming, pubs int) {
	ring := fanout.NewRing(&fanout.RingOptions{Size: 1 << 16})
	f := benchStart(b, 10, fanout.HubOptions{Replay: &fixedLatencyStore{ReplayStore: ring, d: latency}}, fanout.ResumeSubprotocol)
	head, err := ring.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}

	// The resume storm: each client reconnects with an ID, again and
	// again, on a topic of its own; its handshake ends once it is resumed.
	srv := httptest.NewServer(f.hub)
	defer srv.Close()
	storm := srv.URL + "/?topic=storm&lastEventId=" + url.QueryEscape(head.ID())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var resumes sync.Map
	for i := range resuming {
		wg.Go(func() {
			n := 0
			for {
				select {
				case <-stop:
					resumes.Store(i, n)
					return
				default:
				}
				c, err := benchDial(storm, fanout.ResumeSubprotocol)
				if err != nil {
					b.Error(err)
					return
				}
				c.Close()
				n++
			}
		})
	}
	if resuming > 0 {
		benchWaitFor(b, "the storm to start", func() bool { return f.hub.Len() > 10 })
	}

	ctx := context.Background()
	lat := make([][]time.Duration, pubs)
	m := fanout.NewMessage(benchPayload)
	if err := f.hub.Publish(ctx, "unrelated", m); err != nil { // the engine learns the store's head
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var pw sync.WaitGroup
	for p := range pubs {
		pw.Go(func() {
			for i := p; i < b.N; i += pubs {
				t0 := time.Now()
				if err := f.hub.Publish(ctx, "unrelated", m); err != nil {
					b.Error(err)
					return
				}
				lat[p] = append(lat[p], time.Since(t0))
			}
		})
	}
	pw.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()

	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pubs/s")
	total := 0
	resumes.Range(func(_, v any) bool { total += v.(int); return true })
	b.ReportMetric(float64(total)/elapsed.Seconds(), "resumes/s")
}

// fixedLatencyStore is a ReplayStore that waits d before every call.
type fixedLatencyStore struct {
	fanout.ReplayStore
	d time.Duration
}

func (s *fixedLatencyStore) wait() {
	if s.d > 0 {
		time.Sleep(s.d) // the store's I/O
	}
}

func (s *fixedLatencyStore) Append(ctx context.Context, topic string, m *fanout.Message) (*fanout.Message, error) {
	s.wait()
	return s.ReplayStore.Append(ctx, topic, m)
}

func (s *fixedLatencyStore) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	s.wait()
	return s.ReplayStore.Read(ctx, from, topics)
}

func (s *fixedLatencyStore) Head(ctx context.Context) (fanout.Position, error) {
	s.wait()
	return s.ReplayStore.Head(ctx)
}
