package redis_test

import (
	"fmt"
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
// its slots), with three nodes sharing each.
func TestConformance(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		runConformance(t, srv.Addr())
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		runConformance(t, c.Addrs()...)
		t.Run("PartitionsSpread", func(t *testing.T) {
			// Each partition's keys share one slot; the default 16
			// partitions reach every master.
			e := newEngine(t, "spread", nil, c.Addrs()...)
			per := map[int]int{}
			for p := range e.Partitions() {
				per[c.MasterOf(t, fmt.Sprintf("{fanout:%d}:log", p)).Port()]++
			}
			if len(per) != len(c.Masters) {
				t.Errorf("16 partitions on %d of %d masters: %v", len(per), len(c.Masters), per)
			}
			t.Logf("partitions per master (by port): %v", per)
		})
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
