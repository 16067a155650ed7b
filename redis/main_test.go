package redis_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// exampleRedisAddr is the address of the redis-server the examples use,
// started by TestMain.
var exampleRedisAddr string

func TestMain(m *testing.M) {
	if os.Getenv(envChildAddrs) != "" {
		childMain() // this process serves a node for a test (see startChild)
	}
	flag.Parse()
	srv, err := redistest.StartBare()
	switch {
	case err == nil:
		exampleRedisAddr = srv.Addr
	case os.Getenv("CI") != "":
		fmt.Fprintln(os.Stderr, "redis-server is required under CI:", err)
		os.Exit(1)
	default:
		// The tests skip without redis-server; examples cannot, so they
		// are not run.
		fmt.Fprintln(os.Stderr, "redis-server not available: tests skip, examples are not run:", err)
		_ = flag.Set("test.run", "^Test")
	}
	goleak.VerifyTestMain(m,
		// rueidis closes the connections a cluster topology refresh
		// replaced five seconds later, on a goroutine of its own that
		// outlives the client.
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
		goleak.Cleanup(func(int) {
			if srv != nil {
				srv.Stop()
			}
		}),
	)
}
