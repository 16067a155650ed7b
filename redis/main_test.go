package redis_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChildAddrs) != "" {
		childMain() // this process serves a node for a test (see startChild)
	}
	goleak.VerifyTestMain(m,
		// rueidis closes the connections a cluster topology refresh
		// replaced five seconds later, on a goroutine of its own that
		// outlives the client.
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
	)
}
