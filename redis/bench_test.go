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
// local redis-server. It reports the Redis CPU time of the publish
// script per publish (redis-µs/op, from INFO commandstats), and its
// calls per publish.
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
	// Per publish, not per call: concurrent publishes share calls (see
	// commit.go).
	if us, ok := commandStat(b, srv, "evalsha", "usec"); ok {
		b.ReportMetric(us/float64(b.N), "redis-µs/op")
	}
	if calls, ok := commandStat(b, srv, "evalsha", "calls"); ok {
		b.ReportMetric(calls/float64(b.N), "calls/op")
	}
}

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

// BenchmarkReadPage_Resume reads a history of 10,000 messages of 1 KiB
// from its start in pages of the Hub's default size (256 messages, 1
// MiB), each from where the last one stopped: what a resuming client
// that reads costs. It reports Redis's CPU per page (redis-µs/page).
func BenchmarkReadPage_Resume(b *testing.B) {
	srv := redistest.Start(b)
	e := newEngine(b, "bench", &fredis.Options{Prefix: newPrefix()}, srv.Addr())
	ctx := context.Background()
	start, err := e.Head(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	m := fanout.NewMessage(make([]byte, 1024))
	for range 10_000 {
		if err := e.Publish(ctx, "t", m); err != nil {
			b.Fatal(err)
		}
	}
	limit := fanout.ReadLimit{Messages: 256, Bytes: 1 << 20}
	pages := 0
	cpu := redisCPU(b, srv)
	b.ResetTimer()
	for b.Loop() {
		from, n := start, 0
		for {
			msgs, upTo, err := e.ReadPage(ctx, from, []string{"t"}, limit)
			if err != nil {
				b.Fatal(err)
			}
			pages++
			n += len(msgs)
			from = upTo
			if len(msgs) < limit.Messages {
				break
			}
		}
		if n != 10_000 {
			b.Fatalf("read %d messages, want 10,000", n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, srv)-cpu).Microseconds())/float64(pages), "redis-µs/page")
	b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
}

// BenchmarkEngine_PublishSequential is one sequential publisher (each
// Publish waits for the one before), as the -nodes benchmark's
// -publishers 1: the time per op is a whole round trip to a local
// redis-server. "background" publishes with a context that cannot end;
// "deadline" with one that can (a request's), which runs the script on a
// goroutine of the engine's (see commit.go). "floor" is a PUBLISH of the same
// payload on the same client: the round trip without the script.
func BenchmarkEngine_PublishSequential(b *testing.B) {
	srv := redistest.Start(b)
	c := newClient(b, "bench", srv.Addr())
	e, err := fredis.New(c, &fredis.Options{Prefix: newPrefix()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	e.Start(enginetest.NewRecorder())
	m := fanout.NewMessage(make([]byte, 64))
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Do(context.Background(), c.B().Publish().Channel("floor").Message(string(m.Data())).Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("background", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := e.Publish(context.Background(), "t", m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("deadline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := e.Publish(ctx, "t", m); err != nil {
				b.Fatal(err)
			}
			cancel()
		}
	})
}
