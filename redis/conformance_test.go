package redis_test

import (
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// conformanceCapacity is the history size the suite checks the bounds
// of.
const conformanceCapacity = 50

// TestConformance runs the engine conformance suite on a standalone
// Redis (one partition) and on a 3-master cluster (16 partitions over
// its slots: see TestCluster_PartitionSlots), with three nodes sharing
// each.
func TestConformance(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		runConformance(t, srv.Addr())
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		runConformance(t, c.Addrs()...)
	})
}

func runConformance(t *testing.T, addrs ...string) {
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T) func(t *testing.T) fanout.Engine {
			opts := &fredis.Options{Prefix: newPrefix(), HistorySize: conformanceCapacity}
			return func(t *testing.T) fanout.Engine {
				c := newClient(t, "conformance", addrs...)
				e, err := fredis.New(c, opts)
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
		},
		Nodes:    3,
		Capacity: conformanceCapacity,
	})
}
