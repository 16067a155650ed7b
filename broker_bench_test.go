// Benchmarks of the Broker (broker.go, ssesink.go), of a Message's SSE
// encoding (prepared.go) and of the replay Ring (replay_ring.go).

package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
)

// benchStartBroker is benchStart for a Broker: its clients send a plain
// SSE request and then only read raw bytes, like the WebSocket ones.
func benchStartBroker(tb testing.TB, subs int, opts fanout.BrokerOptions) *benchFixture {
	tb.Helper()
	opts.Heartbeat = -1
	return benchServe(tb, subs, fanout.NewBroker(&opts), benchDialSSE)
}

func benchDialSSE(url string) (*benchClient, error) {
	return benchRequest(url, "Accept: text/event-stream\r\n", func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return fmt.Errorf("SSE request: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		return nil
	})
}

// BenchmarkBroker_Publish is BenchmarkHub_Publish for SSE subscribers:
// each batch is written and flushed once. writes/msg counts flushes.
func BenchmarkBroker_Publish(b *testing.B) {
	benchBroker(b, fanout.BrokerOptions{})
}

// BenchmarkBroker_PublishMaxBatch1 disables coalescing (one flush per
// event), for an A/B.
func BenchmarkBroker_PublishMaxBatch1(b *testing.B) {
	benchBroker(b, fanout.BrokerOptions{DeliveryOptions: fanout.DeliveryOptions{MaxBatch: 1}})
}

// BenchmarkBroker_PublishReplay is BenchmarkBroker_Publish with a Ring:
// each publish is also stored and given its ID.
func BenchmarkBroker_PublishReplay(b *testing.B) {
	benchBroker(b, fanout.BrokerOptions{Replay: fanout.NewRing(nil)})
}

// BenchmarkBroker_PublishPartitions is BenchmarkBroker_PublishReplay for
// subscribers of two partitions (over partEngine): every event's id field
// is the subscriber's composite ID, written per subscriber beside the
// shared event.
func BenchmarkBroker_PublishPartitions(b *testing.B) {
	for _, subs := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			f := benchStartBrokerPartitions(b, subs)
			for _, burst := range []int{1, 10, 100} {
				b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
					benchPublish(b, f, burst)
				})
			}
		})
	}
}

// benchStartBrokerPartitions starts a Broker over a partEngine of two
// partitions whose subs clients each follow both: benchTopic is in
// partition 1, their other topic in 0.
func benchStartBrokerPartitions(tb testing.TB, subs int) *benchFixture {
	tb.Helper()
	opts := fanout.BrokerOptions{Engine: newPartEngine(2, 0, map[string]int{benchTopic: 1}), Heartbeat: -1}
	return benchServe(tb, subs, fanout.NewBroker(&opts), func(url string) (*benchClient, error) {
		return benchDialSSE(url + "&topic=other")
	})
}

func benchBroker(b *testing.B, opts fanout.BrokerOptions) {
	for _, subs := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			f := benchStartBroker(b, subs, opts)
			for _, burst := range []int{1, 10, 100} {
				b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
					benchPublish(b, f, burst)
				})
			}
		})
	}
}

// BenchmarkMessage_EncodeSSE measures what a publish to SSE subscribers
// prepares once for all of them: the Message and its event, encoded with
// go-sse. Compare it with BenchmarkBroker_Publish's ns/op to see its share
// of a publish.
func BenchmarkMessage_EncodeSSE(b *testing.B) {
	for _, size := range []int{64, 4 << 10} {
		for _, lines := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%d/lines=%d", size, lines), func(b *testing.B) {
				data := bytes.Repeat([]byte{'x'}, size)
				for i := 1; i < lines; i++ {
					data[i*size/lines] = '\n'
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					m := fanout.NewMessage(data).WithID("k2f9w-1234567")
					if ev, err := m.SSEEvent(); err != nil || len(ev) <= size {
						b.Fatalf("event of %d bytes, %v", len(ev), err)
					}
				}
			})
		}
	}
}

// BenchmarkRing_Append measures storing a message in a Ring that is full
// (every Append evicts).
func BenchmarkRing_Append(b *testing.B) {
	r := fanout.NewRing(&fanout.RingOptions{Size: 1024})
	m := fanout.NewMessage(benchPayload)
	ctx := context.Background()
	for range 2048 {
		_, _ = r.Append(ctx, benchTopic, m)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Append(ctx, benchTopic, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRing_Read measures a resume that missed n messages, half of
// them on another topic.
func BenchmarkRing_Read(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("missed=%d", n), func(b *testing.B) {
			r := fanout.NewRing(&fanout.RingOptions{Size: 4096})
			ctx := context.Background()
			m := fanout.NewMessage(benchPayload)
			first, _ := r.Append(ctx, benchTopic, m)
			for i := range n {
				_, _ = r.Append(ctx, []string{benchTopic, "other"}[i%2], m)
			}
			topics := []string{benchTopic}
			b.ReportAllocs()
			for b.Loop() {
				got, _, err := r.Read(ctx, first.Position(), topics)
				if err != nil || len(got) != n/2 {
					b.Fatalf("Read: %d messages, %v", len(got), err)
				}
			}
		})
	}
}
