package fanoutprom_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
)

// measuredEngine is the in-process engine reporting metrics as the Redis
// engine will: its feed's lag by partition, and its recoveries. metrics,
// when set, replaces them.
type measuredEngine struct {
	fanout.Engine
	metrics []fanout.EngineMetric
}

var _ fanout.MeasuredEngine = measuredEngine{}

func (e measuredEngine) Metrics() []fanout.EngineMetric {
	if e.metrics != nil {
		return e.metrics
	}
	return []fanout.EngineMetric{
		{Name: "feed_lag_seconds", Help: "How far the feed lags behind what was published.",
			Labels: map[string]string{"partition": "0"}, Value: 0.25},
		{Name: "feed_lag_seconds", Help: "How far the feed lags behind what was published.",
			Labels: map[string]string{"partition": "1"}, Value: 0.5},
		{Name: "recoveries_total", Help: "Times the feed recovered from a lost connection.", Counter: true, Value: 3},
	}
}

// An engine's metrics are exported as fanout_engine_ + their names, with
// their kinds, help and labels.
func TestCollector_EngineMetrics(t *testing.T) {
	t.Parallel()
	hub := fanout.NewHub(&fanout.HubOptions{Engine: measuredEngine{Engine: fanout.NewLocalEngine(nil)}})
	t.Cleanup(func() { _ = hub.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fanoutprom.NewCollector(hub, nil))
	want := `
# HELP fanout_engine_feed_lag_seconds How far the feed lags behind what was published.
# TYPE fanout_engine_feed_lag_seconds gauge
fanout_engine_feed_lag_seconds{partition="0"} 0.25
fanout_engine_feed_lag_seconds{partition="1"} 0.5
# HELP fanout_engine_recoveries_total Times the feed recovered from a lost connection.
# TYPE fanout_engine_recoveries_total counter
fanout_engine_recoveries_total 3
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"fanout_engine_feed_lag_seconds", "fanout_engine_recoveries_total"))

	// The same through HTTP and the text parser.
	_, url := serveMetrics(t, fanoutprom.NewCollector(hub, nil))
	e := scrape(t, url)
	v, ok := e.value("fanout_engine_feed_lag_seconds", "partition", "1")
	assert.True(t, ok)
	assert.Equal(t, 0.5, v)
}

// Measurements that cannot be exported make the registration or the
// scrape fail, naming the metric, rather than vanish.
func TestCollector_EngineMetricsInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		metrics []fanout.EngineMetric
		want    string
	}{
		{name: "label names differ", metrics: []fanout.EngineMetric{
			{Name: "lag_seconds", Help: "Lag.", Labels: map[string]string{"partition": "0"}},
			{Name: "lag_seconds", Help: "Lag.", Labels: map[string]string{"shard": "0"}},
		}, want: "lag_seconds"},
		{name: "empty name", metrics: []fanout.EngineMetric{{Help: "Nameless."}}, want: "not a valid metric name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hub := fanout.NewHub(&fanout.HubOptions{Engine: measuredEngine{Engine: fanout.NewLocalEngine(nil), metrics: tc.metrics}})
			t.Cleanup(func() { _ = hub.Close() })
			reg := prometheus.NewRegistry()
			err := reg.Register(fanoutprom.NewCollector(hub, nil))
			if err == nil {
				_, err = reg.Gather()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
