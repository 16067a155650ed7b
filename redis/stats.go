package redis

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout"
)

// Stats is a snapshot of an Engine's counters since it was made, for
// metrics (a Prometheus collector reads them as counters and gauges).
type Stats struct {
	Published     uint64 `json:"published"`      // Publish calls (a broadcast counts once)
	PublishErrors uint64 `json:"publish_errors"` // Publish calls that failed
	Delivered     uint64 `json:"delivered"`      // messages handed to the local feed, live or recovered
	Recovered     uint64 `json:"recovered"`      // of those, read from a stream because the live channels had not delivered them
	Holes         uint64 `json:"holes"`          // catch-ups (after subscribing, or by a check) that found messages the live channels had not delivered
	Checks        uint64 `json:"checks"`         // periodic checks of idle partitions (head and probe)
	Stuck         uint64 `json:"stuck"`          // subscriptions replaced because a check's probe did not come back, or its audit found messages missing
	Reconnects    uint64 `json:"reconnects"`     // subscription sessions that ended in an error
	Resyncs       uint64 `json:"resyncs"`        // times a partition's local subscribers got the resync signal
	Resumes       uint64 `json:"resumes"`        // times a partition was followed again after a pause (no local subscriber meanwhile)
	Epochs        uint64 `json:"epochs"`         // new epochs found (Redis lost a partition's history, or it may have gone back)
	Following     int64  `json:"following"`      // partitions this node follows now (one subscription each)
	Refused       bool   `json:"refused"`        // the engine was refused (ErrLayout: other nodes use another layout): every use fails

	// Lag is the feed lag of the last live message: from when Redis
	// stored it to when this node handed it to its feed (clocks of the
	// Redis host and this one). MaxLag is the largest since the engine
	// was made.
	Lag    time.Duration `json:"lag"`
	MaxLag time.Duration `json:"max_lag"`

	// LastError is the last error that ended a subscription session, or
	// "".
	LastError string `json:"last_error,omitempty"`
}

// counters are the live values behind Stats.
type counters struct {
	published, publishErrors, delivered, recovered atomic.Uint64
	holes, checks, stuck, reconnects, resets       atomic.Uint64
	epochs, resumes                                atomic.Uint64
	following                                      atomic.Int64
	lagMs, maxLagMs                                atomic.Int64

	errMu   sync.Mutex
	lastErr error
}

// observeLag records the lag of a live message stored at ms (Unix ms).
func (c *counters) observeLag(ms int64) {
	lag := max(time.Now().UnixMilli()-ms, 0)
	c.lagMs.Store(lag)
	for {
		m := c.maxLagMs.Load()
		if lag <= m || c.maxLagMs.CompareAndSwap(m, lag) {
			return
		}
	}
}

func (e *Engine) setLastError(err error) {
	e.stats.errMu.Lock()
	e.stats.lastErr = err
	e.stats.errMu.Unlock()
}

func (e *Engine) lastError() error {
	e.stats.errMu.Lock()
	defer e.stats.errMu.Unlock()
	return e.stats.lastErr
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{
		Published:     c.published.Load(),
		PublishErrors: c.publishErrors.Load(),
		Delivered:     c.delivered.Load(),
		Recovered:     c.recovered.Load(),
		Holes:         c.holes.Load(),
		Checks:        c.checks.Load(),
		Stuck:         c.stuck.Load(),
		Reconnects:    c.reconnects.Load(),
		Resyncs:       c.resets.Load(),
		Epochs:        c.epochs.Load(),
		Resumes:       c.resumes.Load(),
		Following:     c.following.Load(),
		Refused:       e.layout.refused.Load() != nil,
		Lag:           time.Duration(c.lagMs.Load()) * time.Millisecond,
		MaxLag:        time.Duration(c.maxLagMs.Load()) * time.Millisecond,
	}
	if err := e.lastError(); err != nil {
		s.LastError = err.Error()
	}
	return s
}

var _ fanout.MeasuredEngine = (*Engine)(nil)

// Metrics implements fanout.MeasuredEngine: the Stats counters and
// gauges, for a metrics collector (the Prometheus collector exports each
// as "fanout_engine_" + its name).
func (e *Engine) Metrics() []fanout.EngineMetric {
	s := e.Stats()
	counter := func(name, help string, v uint64) fanout.EngineMetric {
		return fanout.EngineMetric{Name: name, Help: help, Counter: true, Value: float64(v)}
	}
	gauge := func(name, help string, v float64) fanout.EngineMetric {
		return fanout.EngineMetric{Name: name, Help: help, Value: v}
	}
	return []fanout.EngineMetric{
		counter("redis_published_total", "Publish calls through the Redis engine (a broadcast counts once).", s.Published),
		counter("redis_publish_errors_total", "Publish calls through the Redis engine that failed.", s.PublishErrors),
		counter("redis_delivered_total", "Messages the Redis engine handed to this node's feed, live or recovered.", s.Delivered),
		counter("redis_recovered_total", "Messages read back from a stream because the live channels had not delivered them.", s.Recovered),
		counter("redis_holes_total", "Catch-ups from a stream that found messages the live channels had not delivered.", s.Holes),
		counter("redis_checks_total", "Periodic checks of idle partitions (head and probe).", s.Checks),
		counter("redis_stuck_total", "Subscriptions replaced because a check's probe did not come back, or its audit found messages missing.", s.Stuck),
		counter("redis_reconnects_total", "Subscription sessions that ended in an error.", s.Reconnects),
		counter("redis_resyncs_total", "Times a partition's local subscribers got the resync signal.", s.Resyncs),
		counter("redis_resumes_total", "Times a partition was followed again after a pause.", s.Resumes),
		counter("redis_epochs_total", "New epochs found (Redis lost a partition's history, or it may have gone back).", s.Epochs),
		gauge("redis_following_partitions", "Partitions this node follows now.", float64(s.Following)),
		gauge("redis_refused", "1 once the Redis engine was refused (ErrLayout: other nodes use another layout), 0 before.", map[bool]float64{true: 1}[s.Refused]),
		gauge("redis_feed_lag_seconds", "Time from Redis storing the last live message to this node handing it to its feed.", s.Lag.Seconds()),
		gauge("redis_feed_lag_max_seconds", "The largest feed lag since the engine was made.", s.MaxLag.Seconds()),
	}
}
