package fanout

import (
	"slices"
)

// subscribers returns a copy of the broadcast set.
func (c *core) subscribers() []*Subscriber {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.all)
}

func (c *core) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.all)
}

func (c *core) topicLen(t string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.topics[t])
}

// Stats is a snapshot of a Hub's (or Broker's) counters since it was made.
type Stats struct {
	Subscribers int    `json:"subscribers"` // current subscribers
	Published   uint64 `json:"published"`   // Publish, Broadcast and BroadcastFilter calls that were accepted
	Delivered   uint64 `json:"delivered"`   // messages written to subscribers' connections
	Dropped     uint64 `json:"dropped"`     // messages not delivered to a subscriber because it was slow
	Batches     uint64 `json:"batches"`     // batches written (one per writer wake-up and MaxBatch)
	Writes      uint64 `json:"writes"`      // socket writes that carried data (Delivered/Writes is the coalescing gain)
	Bytes       uint64 `json:"bytes"`       // bytes written for data, including framing
	Removed     uint64 `json:"removed"`     // subscribers removed by PolicyRemove
	Closed      uint64 `json:"closed"`      // subscribers closed by PolicyClose
	Timeouts    uint64 `json:"timeouts"`    // batch writes that exceeded WriteTimeout

	InboundDropped uint64 `json:"inboundDropped"` // client messages dropped for exceeding Limits.MessageRate
}

func (c *core) snapshot() Stats {
	return Stats{
		Subscribers: c.len(),
		Published:   c.stats.published.Load(),
		Delivered:   c.stats.delivered.Load(),
		Dropped:     c.stats.dropped.Load(),
		Batches:     c.stats.batches.Load(),
		Writes:      c.stats.writes.Load(),
		Bytes:       c.stats.bytes.Load(),
		Removed:     c.stats.slowRemoved.Load(),
		Closed:      c.stats.slowClosed.Load(),
		Timeouts:    c.stats.timeouts.Load(),

		InboundDropped: c.stats.inboundDropped.Load(),
	}
}

func (c *core) engineMetrics() []EngineMetric {
	if me, ok := c.eng.(MeasuredEngine); ok {
		return me.Metrics()
	}
	return nil
}
