package fanout_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// measuredEngine is the in-process engine reporting a metric of its own.
type measuredEngine struct{ fanout.Engine }

var _ fanout.MeasuredEngine = measuredEngine{}

func (measuredEngine) Metrics() []fanout.EngineMetric {
	return []fanout.EngineMetric{{Name: "recoveries_total", Help: "Recoveries.", Counter: true, Value: 2}}
}

// A Hub, and a Broker on its own or attached to the Hub, return what
// their engine measured, and nothing for an engine that measures nothing.
func TestEngineMetrics(t *testing.T) {
	t.Parallel()
	want := measuredEngine{}.Metrics()

	hub := fanout.NewHub(&fanout.HubOptions{Engine: measuredEngine{fanout.NewLocalEngine(nil)}})
	defer func() { require.NoError(t, hub.Close()) }()
	assert.Equal(t, want, hub.EngineMetrics())
	assert.Equal(t, want, fanout.NewBroker(&fanout.BrokerOptions{Hub: hub}).EngineMetrics(), "attached to the Hub")

	b := fanout.NewBroker(&fanout.BrokerOptions{Engine: measuredEngine{fanout.NewLocalEngine(nil)}})
	defer func() { require.NoError(t, b.Close()) }()
	assert.Equal(t, want, b.EngineMetrics())

	plain := fanout.NewHub(nil)
	defer func() { require.NoError(t, plain.Close()) }()
	assert.Nil(t, plain.EngineMetrics())
}
