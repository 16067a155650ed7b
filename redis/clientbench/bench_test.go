// Package clientbench measures the two Go Redis clients the engine could
// be built on, go-redis v9 and rueidis, on the engine's own work: the
// publish script (store in the stream, assign the offset, PUBLISH), run
// by 1, 2 and 64 goroutines at once against a real redis-server.
//
//	cd redis/clientbench && go test -bench . -count 3
//
// It is a module of its own so that the engine's module requires one
// client only. The numbers and the choice are in redis/README.md.
package clientbench

import (
	"context"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/redis/internal/redistest"
	"github.com/fanout-go/fanout/redis/internal/script"
)

var (
	keys    = []string{"{fanout:0}:meta", "{fanout:0}:log"}
	payload = string(make([]byte, 64))
)

func args() []string {
	return []string{"bench", "1", "", "0", "{fanout:0}:live", "0", "10000", "0", "topic", "t", payload}
}

func BenchmarkPublishScript(b *testing.B) {
	srv := redistest.Start(b)
	for _, conc := range []int{1, 2, 64} {
		b.Run(fmt.Sprintf("client=go-redis/conc=%d", conc), func(b *testing.B) {
			c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), PoolSize: 64})
			defer c.Close()
			s := goredis.NewScript(script.Publish)
			a := args()
			argv := make([]any, len(a))
			for i := range a {
				argv[i] = a[i]
			}
			run(b, conc, func(ctx context.Context) error { return s.Run(ctx, c, keys, argv...).Err() })
		})
		b.Run(fmt.Sprintf("client=rueidis/conc=%d", conc), func(b *testing.B) {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			s := rueidis.NewLuaScript(script.Publish)
			a := args()
			run(b, conc, func(ctx context.Context) error { return s.Exec(ctx, c, keys, a).Error() })
		})
	}
}

// run calls publish b.N times from conc goroutines.
func run(b *testing.B, conc int, publish func(context.Context) error) {
	ctx := context.Background()
	if err := publish(ctx); err != nil { // loads the script
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	var next = make(chan struct{}, 1024)
	errs := make(chan error, conc)
	go func() {
		for range b.N {
			next <- struct{}{}
		}
		close(next)
	}()
	for range conc {
		go func() {
			for range next {
				if err := publish(ctx); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range conc {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}
