package bolt_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/bolt"
	"github.com/fanout-go/fanout/internal/testkit"
)

// benchPayload is the 64-byte payload the benchmarks publish.
var benchPayload = bytes.Repeat([]byte("0123456789abcdef"), 4)

// benchStores are the stores the benchmarks compare: the in-memory Ring,
// and a Store under each durability setting.
var benchStores = []struct {
	name string
	new  func(b *testing.B) fanout.ReplayStore
}{
	{"ring", func(*testing.B) fanout.ReplayStore { return fanout.NewRing(&fanout.RingOptions{Size: 1024}) }},
	{"batched", benchBolt(bolt.Options{})},
	{"each", benchBolt(bolt.Options{MaxBatch: 1})},
	{"nosync", benchBolt(bolt.Options{NoSync: true})},
	{"window", benchBolt(bolt.Options{SyncWindow: 100 * time.Millisecond})},
}

func benchBolt(opts bolt.Options) func(b *testing.B) fanout.ReplayStore {
	return func(b *testing.B) fanout.ReplayStore {
		return openStore(b, filepath.Join(b.TempDir(), "fanout.db"), &opts)
	}
}

// BenchmarkStore_Append measures Append alone, from concurrent publishers
// (goroutines, each appending one message after the other): ns/op is
// wall time per Append, appends/s the total rate.
func BenchmarkStore_Append(b *testing.B) {
	for _, st := range benchStores {
		for _, pubs := range []int{1, 16, 256, 1024} {
			b.Run(fmt.Sprintf("store=%s/publishers=%d", st.name, pubs), func(b *testing.B) {
				s := st.new(b)
				m := fanout.NewMessage(benchPayload)
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(len(benchPayload)))
				b.SetParallelism((pubs + 1) / 2) // RunParallel runs GOMAXPROCS times as many goroutines
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Append(ctx, "bench", m); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			})
		}
	}
}

// BenchmarkStore_Read measures a resume that missed n messages, half of
// them on another topic, from the Ring and from a Store (whose Read
// decodes them from the file and allocates each).
func BenchmarkStore_Read(b *testing.B) {
	for _, st := range benchStores[:2] {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("store=%s/missed=%d", st.name, n), func(b *testing.B) {
				s := st.new(b)
				ctx := context.Background()
				m := fanout.NewMessage(benchPayload)
				first, err := s.Append(ctx, "bench", m)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if _, err := s.Append(ctx, []string{"bench", "other"}[i%2], m); err != nil {
						b.Fatal(err)
					}
				}
				topics := []string{"bench"}
				b.ReportAllocs()
				for b.Loop() {
					got, _, err := s.Read(ctx, first.Position(), topics)
					if err != nil || len(got) != n/2 {
						b.Fatalf("Read: %d messages, %v", len(got), err)
					}
				}
			})
		}
	}
}

// BenchmarkHub_Publish measures publishing through a Hub over each store
// to 10 WebSocket subscribers, from concurrent publishers: each op is one
// Publish of a fresh 64-byte message, and the timer stops once every
// subscriber's writer has written every message to its socket, so that
// the delivery is counted. pubs/s is the rate of publishes.
func BenchmarkHub_Publish(b *testing.B) {
	for _, st := range benchStores {
		for _, pubs := range []int{1, 16, 256, 1024} {
			b.Run(fmt.Sprintf("store=%s/publishers=%d", st.name, pubs), func(b *testing.B) {
				benchHub(b, st.new(b), 10, pubs)
			})
		}
	}
}

func benchHub(b *testing.B, store fanout.ReplayStore, subs, pubs int) {
	hub := fanout.NewHub(&fanout.HubOptions{
		Replay:          store,
		PingInterval:    -1,
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 1 << 22, QueueBytes: 1 << 30},
	})
	srv := httptest.NewServer(hub)
	clients := make([]*rawClient, subs)
	for i := range clients {
		c, err := dialRaw(srv.URL + "/?topic=bench")
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	b.Cleanup(func() {
		_ = hub.Close()
		srv.Close()
		for _, c := range clients {
			c.Close()
		}
	})
	waitFor(b, "the subscribers", func() bool { return hub.Len() == subs })

	ctx := context.Background()
	before := hub.Stats().Delivered
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Go(func() {
			for i := p; i < b.N; i += pubs {
				if err := hub.Publish(ctx, "bench", fanout.NewMessage(benchPayload)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	target := before + uint64(b.N)*uint64(subs)
	waitFor(b, "the deliveries", func() bool { return hub.Stats().Delivered >= target })
	b.StopTimer()
	if st := hub.Stats(); st.Dropped != 0 || st.Closed != 0 {
		b.Fatalf("subscribers fell behind: %+v", st)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pubs/s")
}

// rawClient is a WebSocket subscriber that does the opening handshake
// itself and then reads and discards bytes: it parses nothing, so the
// benchmark measures the Hub's work, not a client library's.
type rawClient = testkit.Discarder

func dialRaw(url string) (*rawClient, error) {
	return testkit.DialDiscard(url, "Upgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
		func(resp *http.Response) error {
			if resp.StatusCode != http.StatusSwitchingProtocols {
				return fmt.Errorf("handshake: %s", resp.Status)
			}
			return nil
		})
}

// waitFor polls cond until it holds, failing tb after 30s, without
// sleeping (see testkit.Spin).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	testkit.Spin(tb, 30*time.Second, cond, what)
}
