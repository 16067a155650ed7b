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
// local redis-server. It reports the Redis CPU time of each publish
// script call (redis-µs/op, from INFO commandstats).
func BenchmarkEngine_Publish(b *testing.B) {
	srv := redistest.Start(b)
	e := newEngine(b, "bench", &fredis.Options{Prefix: newPrefix()}, srv.Addr())
	e.Start(enginetest.NewRecorder())
	m := fanout.NewMessage(make([]byte, 64))
	b.ReportAllocs()
	b.SetParallelism(8)
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		b.Fatal(err)
	}
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
	if us, ok := scriptCPU(b, srv); ok {
		b.ReportMetric(us, "redis-µs/op")
	}
}

// scriptCPU returns the mean Redis CPU time of an EVALSHA call since the
// last CONFIG RESETSTAT, in microseconds.
func scriptCPU(b *testing.B, srv *redistest.Server) (float64, bool) {
	return commandStat(b, srv, "evalsha", "usec_per_call")
}
