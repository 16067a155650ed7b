package redis_test

import (
	"context"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// BenchmarkRead_QuietBehindBusy resumes a quiet topic that missed 10
// messages while a busy topic of the same partition got 10,000 (spread
// among them): one Read of the quiet topic from before all of them. It
// reports Redis's CPU per resume (redis-µs/op) besides the time.
func BenchmarkRead_QuietBehindBusy(b *testing.B) {
	srv := redistest.Start(b)
	e := newEngine(b, "bench", &fredis.Options{Prefix: newPrefix(), HistorySize: 20_000}, srv.Addr())
	e.Start(enginetest.NewRecorder())
	ctx := context.Background()
	from, err := e.Head(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	m := fanout.NewMessage(make([]byte, 64))
	for i := range 10_000 {
		topic := "busy"
		if i%1000 == 500 {
			if err := e.Publish(ctx, "quiet", m); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.Publish(ctx, topic, m); err != nil {
			b.Fatal(err)
		}
	}
	cpu := redisCPU(b, srv)
	b.ResetTimer()
	for b.Loop() {
		msgs, _, err := e.Read(ctx, from, []string{"quiet"})
		if err != nil || len(msgs) != 10 {
			b.Fatalf("Read: %d messages, %v; want 10", len(msgs), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, srv)-cpu).Microseconds())/float64(b.N), "redis-µs/op")
}
