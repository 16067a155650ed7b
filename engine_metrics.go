package fanout

// MeasuredEngine is implemented by an Engine that measures itself: the
// Redis engine, say, how far its feed lags behind what was published and
// how often it recovered from a lost connection. Hub.EngineMetrics and
// Broker.EngineMetrics return what it measured, and the Prometheus
// collector (github.com/fanout-go/fanout/prometheus) exports it beside
// the Hub's own metrics, each as "fanout_engine_" + its Name.
//
// Metrics is called on every scrape, concurrently with everything else,
// from Start on (also after Close). It must not block on I/O: it reports
// what the engine last measured. It must report the same metrics every
// time (each Name with the same Help, kind and label names), with zero
// values until measured, so that a collector can describe them once.
type MeasuredEngine interface {
	Engine
	// Metrics returns the engine's current measurements. The caller
	// may keep the slice and its maps: return new ones each time.
	Metrics() []EngineMetric
}

// EngineMetric is one measurement of a MeasuredEngine: a counter or a
// gauge, named the Prometheus way.
type EngineMetric struct {
	// Name is the metric's name without a namespace, in snake case with
	// its unit in base units: "feed_lag_seconds". A counter's ends in
	// "_total": "recoveries_total".
	Name string
	// Help says what it measures, in one sentence.
	Help string
	// Counter reports a count that only grows (or restarts from zero when
	// the process does); otherwise the metric is a gauge.
	Counter bool
	// Labels tells apart the measurements of one Name (by partition, say:
	// {"partition": "3"}). Nil for none. Each measurement of one Name has
	// the same label names.
	Labels map[string]string
	// Value is the measurement.
	Value float64
}

func (c *core) engineMetrics() []EngineMetric {
	if me, ok := c.eng.(MeasuredEngine); ok {
		return me.Metrics()
	}
	return nil
}
