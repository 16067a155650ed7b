package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// BenchmarkEngine_Publish publishes 64-byte messages from parallel
// callers, each with a deadline (as a request's context has one), to a
// local redis-server. It reports Redis's CPU per publish (redis-µs/op)
// besides the time.
func BenchmarkEngine_Publish(b *testing.B) {
	srv := redistest.Start(b)
	e := newEngine(b, "bench", &fredis.Options{Prefix: newPrefix()}, srv.Addr())
	e.Start(enginetest.NewRecorder())
	m := fanout.NewMessage(make([]byte, 64))
	b.ReportAllocs()
	b.SetParallelism(8)
	cpu := redisCPU(b, srv)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := e.Publish(ctx, "t", m); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, srv)-cpu).Microseconds())/float64(b.N), "redis-µs/op")
}
