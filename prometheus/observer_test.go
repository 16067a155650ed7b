package fanoutprom_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
)

// idle is a Source with no subscribers and nothing counted.
type idle struct{}

func (idle) Stats() fanout.Stats                  { return fanout.Stats{} }
func (idle) Subscribers() []*fanout.Subscriber    { return nil }
func (idle) EngineMetrics() []fanout.EngineMetric { return nil }

// The Observer counts slow events by reason and the policy applied, and
// resync signals (not events) by reason, with every known combination
// exported from the start; a reason it does not know is still counted,
// under its name.
func TestObserver_Counters(t *testing.T) {
	t.Parallel()
	obs := fanoutprom.NewObserver(nil)
	obs.SubscriberSlow(fanout.SlowEvent{Reason: fanout.SlowWriteTimeout, Policy: fanout.PolicyClose}, fanout.PolicyRemove)
	obs.SubscriberSlow(fanout.SlowEvent{Reason: fanout.SlowQueueFull}, fanout.PolicyDrop)
	obs.SubscriberSlow(fanout.SlowEvent{Reason: fanout.SlowQueueFull}, fanout.PolicyDrop)
	obs.SubscriberSlow(fanout.SlowEvent{Reason: fanout.SlowReason(7)}, fanout.PolicyClose)
	obs.Resynced(fanout.Resync{Reason: fanout.ResyncLost, Subscribers: 3})
	obs.Resynced(fanout.Resync{Reason: fanout.ResyncLost})
	obs.Resynced(fanout.Resync{Reason: fanout.ResyncUnavailable, Subscribers: 1})

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fanoutprom.NewCollector(idle{}, obs))
	want := `
# HELP fanout_resyncs_total Resync signals sent to subscribers instead of messages they missed, by why: a resume from an unknown ID, a history that could not be read, or messages the engine lost.
# TYPE fanout_resyncs_total counter
fanout_resyncs_total{reason="lost"} 3
fanout_resyncs_total{reason="unavailable"} 1
fanout_resyncs_total{reason="unknown"} 0
# HELP fanout_slow_subscribers_total Slow-subscriber events, by why the subscriber was slow and the policy applied.
# TYPE fanout_slow_subscribers_total counter
fanout_slow_subscribers_total{policy="close",reason="SlowReason(7)"} 1
fanout_slow_subscribers_total{policy="close",reason="queue_full"} 0
fanout_slow_subscribers_total{policy="close",reason="write_timeout"} 0
fanout_slow_subscribers_total{policy="drop",reason="queue_full"} 2
fanout_slow_subscribers_total{policy="drop",reason="write_timeout"} 0
fanout_slow_subscribers_total{policy="remove",reason="queue_full"} 0
fanout_slow_subscribers_total{policy="remove",reason="write_timeout"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"fanout_resyncs_total", "fanout_slow_subscribers_total"))
}

// Buckets given in Options replace the defaults.
func TestObserver_Buckets(t *testing.T) {
	t.Parallel()
	obs := fanoutprom.NewObserver(&fanoutprom.Options{QueueBuckets: []float64{0, 10}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fanoutprom.NewCollector(idle{}, obs))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "fanout_queue_depth_at_write" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var bounds []float64
			for _, b := range m.GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			require.Equal(t, []float64{0, 10}, bounds)
		}
		return
	}
	t.Fatal("fanout_queue_depth_at_write not gathered")
}
