package fanoutprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanout-go/fanout"
)

// Options configures an Observer's histograms. The zero value (or a nil
// *Options) is a good default for every field.
type Options struct {
	// MessagesBuckets are the upper bounds of fanout_messages_per_write.
	// Defaults to 1, 2, 4, … 1024 (DeliveryOptions.MaxBatch defaults to
	// 64).
	MessagesBuckets []float64

	// DurationBuckets are the upper bounds, in seconds, of
	// fanout_batch_write_duration_seconds. Defaults to 10µs to about 10s,
	// each bound four times the last (DeliveryOptions.WriteTimeout
	// defaults to 10s).
	DurationBuckets []float64

	// QueueBuckets are the upper bounds of fanout_queue_depth_at_write.
	// Defaults to 0, 1, 4, 16, … 16384 (DeliveryOptions.QueueSize
	// defaults to 4096).
	QueueBuckets []float64
}

// Observer is a fanout.Observer that keeps the metrics only the writers
// and policies of a Hub (or Broker) can tell: histograms of each batch
// write, slow-subscriber events and resyncs. Put it in the Hub's
// DeliveryOptions before NewHub (options are copied), and hand it to
// NewCollector, which exports it. One Observer serves one Hub (with the
// Brokers attached to it) or one standalone Broker.
//
// Its methods are safe for concurrent use, allocate nothing and never
// block: a batch write costs three histogram observations.
type Observer struct {
	perWrite, duration, queued *prometheus.HistogramVec
	slow                       *prometheus.CounterVec
	resyncs                    *prometheus.CounterVec

	// The children of the vectors, resolved once: indexed by transport,
	// by slow reason and policy, and by resync reason.
	perWriteBy, durationBy, queuedBy [2]prometheus.Observer
	slowBy                           [3][3]prometheus.Counter
	resyncsBy                        [4]prometheus.Counter
}

var _ fanout.Observer = (*Observer)(nil)

// Transports, slow reasons, policies and resync reasons, as label values,
// by index.
var (
	transports    = [2]string{"websocket", "sse"}
	slowReasons   = [3]string{"", "queue_full", "write_timeout"} // by fanout.SlowReason
	policies      = [3]string{"close", "drop", "remove"}         // by fanout.Policy
	resyncReasons = [4]string{"", "unknown", "unavailable", "lost"}
)

// NewObserver returns an Observer with histograms configured by opts (nil
// for defaults). opts is copied.
func NewObserver(opts *Options) *Observer {
	var o Options
	if opts != nil {
		o = *opts
	}
	if len(o.MessagesBuckets) == 0 {
		o.MessagesBuckets = prometheus.ExponentialBuckets(1, 2, 11)
	}
	if len(o.DurationBuckets) == 0 {
		o.DurationBuckets = prometheus.ExponentialBuckets(10e-6, 4, 11)
	}
	if len(o.QueueBuckets) == 0 {
		o.QueueBuckets = append([]float64{0}, prometheus.ExponentialBuckets(1, 4, 8)...)
	}
	hist := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: name, Help: help, Buckets: buckets,
		}, []string{"transport"})
	}
	ob := &Observer{
		perWrite: hist("messages_per_write",
			"Messages delivered by each batch write of a subscriber's writer (one socket write for connections a Hub accepted).",
			o.MessagesBuckets),
		duration: hist("batch_write_duration_seconds",
			"How long each batch write of a subscriber's writer took.", o.DurationBuckets),
		queued: hist("queue_depth_at_write",
			"Messages left in a subscriber's queue behind each batch its writer took: how far behind it was.",
			o.QueueBuckets),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "slow_subscribers_total",
			Help: "Slow-subscriber events, by why the subscriber was slow and the policy applied.",
		}, []string{"reason", "policy"}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "resyncs_total",
			Help: "Resync signals sent to subscribers instead of messages they missed, by why: a resume from an unknown ID, a history that could not be read, or messages the engine lost.",
		}, []string{"reason"}),
	}
	for i, t := range transports {
		ob.perWriteBy[i] = ob.perWrite.WithLabelValues(t)
		ob.durationBy[i] = ob.duration.WithLabelValues(t)
		ob.queuedBy[i] = ob.queued.WithLabelValues(t)
	}
	for r := 1; r < len(slowReasons); r++ {
		for p, policy := range policies {
			ob.slowBy[r][p] = ob.slow.WithLabelValues(slowReasons[r], policy)
		}
	}
	for r := 1; r < len(resyncReasons); r++ {
		ob.resyncsBy[r] = ob.resyncs.WithLabelValues(resyncReasons[r])
	}
	return ob
}

// BatchWritten observes a batch write in the three histograms.
func (o *Observer) BatchWritten(w fanout.BatchWrite) {
	t := 0
	if w.Subscriber != nil && w.Subscriber.Transport() == "sse" {
		t = 1
	}
	o.perWriteBy[t].Observe(float64(w.Messages))
	o.durationBy[t].Observe(w.Duration.Seconds())
	o.queuedBy[t].Observe(float64(w.Queued))
}

// SubscriberSlow counts a slow-subscriber event by reason and policy.
func (o *Observer) SubscriberSlow(ev fanout.SlowEvent, applied fanout.Policy) {
	r, p := int(ev.Reason), int(applied)
	if r > 0 && r < len(slowReasons) && p < len(policies) {
		o.slowBy[r][p].Inc()
		return
	}
	// A reason or policy of a later version of fanout.
	o.slow.WithLabelValues(ev.Reason.String(), applied.String()).Inc()
}

// Resynced counts the resync signals sent, by reason.
func (o *Observer) Resynced(rs fanout.Resync) {
	if r := int(rs.Reason); r > 0 && r < len(resyncReasons) {
		o.resyncsBy[r].Add(float64(rs.Subscribers))
		return
	}
	o.resyncs.WithLabelValues(rs.Reason.String()).Add(float64(rs.Subscribers))
}

// describe and collect are the Observer's part of a Collector's.
func (o *Observer) describe(ch chan<- *prometheus.Desc) {
	o.perWrite.Describe(ch)
	o.duration.Describe(ch)
	o.queued.Describe(ch)
	o.slow.Describe(ch)
	o.resyncs.Describe(ch)
}

func (o *Observer) collect(ch chan<- prometheus.Metric) {
	o.perWrite.Collect(ch)
	o.duration.Collect(ch)
	o.queued.Collect(ch)
	o.slow.Collect(ch)
	o.resyncs.Collect(ch)
}
