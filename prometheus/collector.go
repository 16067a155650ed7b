package fanoutprom

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanout-go/fanout"
)

// namespace prefixes every metric's name.
const namespace = "fanout"

// Source is what a Collector reads on each scrape: a *fanout.Hub or a
// *fanout.Broker.
type Source interface {
	Stats() fanout.Stats
	Subscribers() []*fanout.Subscriber
	EngineMetrics() []fanout.EngineMetric
}

var (
	_ Source = (*fanout.Hub)(nil)
	_ Source = (*fanout.Broker)(nil)
)

// Collector is a prometheus.Collector for a Hub (with the Brokers
// attached to it, whose subscribers it shares) or a standalone Broker. On
// each scrape it exports the Source's Stats as counters, its subscribers
// by transport, what its Observer measured, and what its engine measured
// when the engine is a fanout.MeasuredEngine (as "fanout_engine_" + each
// metric's name).
//
// Register one Collector per Hub: a Broker attached to a Hub is counted
// with it. Several Hubs in one registry need a label each to tell them
// apart: register each Collector through prometheus.WrapRegistererWith.
type Collector struct {
	src Source
	obs *Observer
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector for src, exporting what obs measured
// too. obs must be the Observer in src's DeliveryOptions; with nil, the
// Collector exports only what src's Stats, subscribers and engine tell.
func NewCollector(src Source, obs *Observer) *Collector {
	return &Collector{src: src, obs: obs}
}

// statCounter is a counter read from Stats.
type statCounter struct {
	desc  *prometheus.Desc
	value func(fanout.Stats) uint64
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var (
	statCounters = []statCounter{
		{newDesc("messages_published_total", "Messages accepted by Publish, Broadcast and BroadcastFilter."),
			func(s fanout.Stats) uint64 { return s.Published }},
		{newDesc("messages_delivered_total", "Messages written to subscribers' connections, one per subscriber reached."),
			func(s fanout.Stats) uint64 { return s.Delivered }},
		{newDesc("messages_dropped_total", "Messages a subscriber did not get because it was slow."),
			func(s fanout.Stats) uint64 { return s.Dropped }},
		{newDesc("batch_writes_total", "Batches written by subscribers' writers."),
			func(s fanout.Stats) uint64 { return s.Batches }},
		{newDesc("socket_writes_total", "Socket writes that carried messages (for SSE through a ResponseWriter, flushes)."),
			func(s fanout.Stats) uint64 { return s.Writes }},
		{newDesc("bytes_written_total", "Bytes written for messages, framing included."),
			func(s fanout.Stats) uint64 { return s.Bytes }},
		{newDesc("write_timeouts_total", "Batch writes that did not finish within WriteTimeout."),
			func(s fanout.Stats) uint64 { return s.Timeouts }},
		{newDesc("slow_subscribers_closed_total", "Subscribers closed for being slow (PolicyClose)."),
			func(s fanout.Stats) uint64 { return s.Closed }},
		{newDesc("slow_subscribers_removed_total", "Subscribers removed for being slow (PolicyRemove)."),
			func(s fanout.Stats) uint64 { return s.Removed }},
		{newDesc("inbound_messages_dropped_total", "Client messages dropped for exceeding Limits.MessageRate."),
			func(s fanout.Stats) uint64 { return s.InboundDropped }},
	}
	subscribersDesc = newDesc("subscribers", "Current subscribers (those that receive broadcasts), by transport.", "transport")
)

// Describe sends the descriptors of every metric the Collector exports:
// those of the engine as its first report names them.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range statCounters {
		ch <- s.desc
	}
	ch <- subscribersDesc
	if c.obs != nil {
		c.obs.describe(ch)
	}
	for _, d := range engineDescs(c.src.EngineMetrics()) {
		ch <- d.desc
	}
}

// Collect sends the current value of every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	for _, s := range statCounters {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.value(st)))
	}
	var n [len(transports)]int
	for _, s := range c.src.Subscribers() {
		if s.Transport() == "sse" {
			n[1]++
		} else {
			n[0]++
		}
	}
	for i, t := range transports {
		ch <- prometheus.MustNewConstMetric(subscribersDesc, prometheus.GaugeValue, float64(n[i]), t)
	}
	if c.obs != nil {
		c.obs.collect(ch)
	}
	ms := c.src.EngineMetrics()
	descs := engineDescs(ms)
	for _, m := range ms {
		d := descs[m.Name]
		if d.err != nil {
			ch <- prometheus.NewInvalidMetric(d.desc, d.err)
			continue
		}
		typ := prometheus.GaugeValue
		if m.Counter {
			typ = prometheus.CounterValue
		}
		values := make([]string, len(d.labels))
		for i, l := range d.labels {
			values[i] = m.Labels[l]
		}
		metric, err := prometheus.NewConstMetric(d.desc, typ, m.Value, values...)
		if err != nil {
			metric = prometheus.NewInvalidMetric(d.desc, err)
		}
		ch <- metric
	}
}

// engineDesc describes the measurements of one name of an engine.
type engineDesc struct {
	desc   *prometheus.Desc
	labels []string // the label names, sorted
	err    error    // why its measurements cannot be exported
}

// engineDescs describes an engine's measurements, by name: as
// "fanout_engine_" + the name, with the help and label names of the first
// measurement of that name. A later one that disagrees is an error.
func engineDescs(ms []fanout.EngineMetric) map[string]engineDesc {
	descs := make(map[string]engineDesc)
	for _, m := range ms {
		labels := make([]string, 0, len(m.Labels))
		for l := range m.Labels {
			labels = append(labels, l)
		}
		slices.Sort(labels)
		d, ok := descs[m.Name]
		switch {
		case !ok:
			d = engineDesc{labels: labels,
				desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "engine", m.Name), m.Help, labels, nil)}
		case d.err == nil && !slices.Equal(d.labels, labels):
			d.err = fmt.Errorf("fanoutprom: engine metric %q: measurements with label names %q and %q", m.Name, d.labels, labels)
		default:
			continue
		}
		descs[m.Name] = d
	}
	return descs
}
