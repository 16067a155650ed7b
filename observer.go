package fanout

import (
	"fmt"
	"time"
)

// Observer is told what a Hub's (or Broker's) writers and policies do, so
// that metrics can go beyond the counters of Stats: how many messages
// each batch write carries and how long it takes, how far behind each
// writer is, which slow-client policies are applied, and why subscribers
// resync. Set it in DeliveryOptions.Observer. Package
// github.com/fanout-go/fanout/prometheus implements it for Prometheus.
//
// Its methods are called concurrently, on the goroutines that did what
// they report: a subscriber's writer (BatchWritten, and SubscriberSlow
// for a write timeout), a publisher (SubscriberSlow for a full queue), the
// engine's delivering goroutine (Resynced for messages the engine lost),
// or the goroutine that accepted a subscriber (Resynced for a resume that
// failed; its writer, when a later page of its history could not be
// read). Each call comes after what it reports is counted in Stats. They
// must return quickly and must not block: a writer or a publisher waits
// for them. They must not publish, close the Hub or end the subscriber.
//
// Without an Observer (nil, the default), nothing is measured for it:
// publishing never looks at it, and a writer checks it once per batch.
type Observer interface {
	// BatchWritten reports one batch write of a subscriber's writer,
	// failed ones included: there is one call for each batch that
	// Stats.Batches counts.
	BatchWritten(w BatchWrite)

	// SubscriberSlow reports a slow-subscriber event and the policy
	// applied to it: ev.Policy, or what DeliveryOptions.OnSlow chose
	// (PolicyClose for a policy it does not know).
	SubscriberSlow(ev SlowEvent, applied Policy)

	// Resynced reports resync signals queued for subscribers instead of
	// messages they missed (see ResyncEvent).
	Resynced(r Resync)
}

// BatchWrite describes one batch write of a subscriber's writer, for an
// Observer. Its counts add up to those of Stats: summed over every write,
// Messages is Stats.Delivered, Writes is Stats.Writes and Bytes is
// Stats.Bytes.
type BatchWrite struct {
	// Subscriber is the subscriber written to.
	Subscriber *Subscriber
	// Messages is how many messages the write delivered. Resync and
	// position signals are not counted, nor messages a failed write did
	// not send.
	Messages int
	// Writes is how many socket writes (SSE: flushes) it took: one, for
	// the connections a Hub accepts.
	Writes int
	// Bytes is how many bytes it wrote, framing included.
	Bytes int
	// Duration is how long the write took.
	Duration time.Duration
	// Queued is how many messages were left in the subscriber's queue
	// when the writer took this batch: how far behind the batch it was.
	// A writer that keeps up has 0.
	Queued int
	// Err is why the write failed, or nil.
	Err error
}

// Resync describes resync signals queued instead of messages that
// subscribers missed, for an Observer.
type Resync struct {
	// Reason is why.
	Reason ResyncReason
	// Subscribers is how many subscribers the signal was queued for: 1
	// for a client's resume; for ResyncLost, the subscribers of the
	// partition concerned whose queue took it (possibly none).
	Subscribers int
	// Err is the error that made them resync: it wraps ErrUnknownID, or
	// is the engine's error.
	Err error
}

// ResyncEvent is the SSE event type of the resync signal: a subscriber
// that asked to resume from an ID the engine does not know (never
// assigned, evicted, or the server restarted with an in-memory store)
// receives one event of this type, whose data says why, instead of what it
// missed. The client should reload its state; the stream then goes on
// live. In a browser:
//
//	es.addEventListener("fanout.resync", (e) => reload(e.data));
//
// WebSocket clients that opted in to ResumeSubprotocol receive a resync
// record instead (see Record), and plain WebSocket clients a close with
// StatusResync. A subscriber that is already streaming gets one too when
// the engine lost messages it cannot fill in (Redis restarted empty, say).
// The data is the reason's name: "unknown", "unavailable" or "lost" (see
// ResyncReason).
const ResyncEvent = "fanout.resync"

// ResyncReason says why subscribers were sent the resync signal.
type ResyncReason uint8

const (
	// ResyncUnknown: a client resumed from an ID that the history does
	// not hold (never assigned, evicted, of another epoch, or no history
	// kept). The resync signal's data is "unknown".
	ResyncUnknown ResyncReason = iota + 1
	// ResyncUnavailable: a client's resume failed because the engine's
	// history could not be read. The signal's data is "unavailable".
	ResyncUnavailable
	// ResyncLost: the engine lost messages that streaming subscribers
	// were to get (a gap in its feed that its history could not fill, or
	// a new epoch: its history was lost). The signal's data is "lost".
	ResyncLost
)

// String returns the reason's name: "unknown", "unavailable" or "lost",
// which is also the resync signal's data on the wire (the resync record,
// the ResyncEvent's data, the reason of a plain WebSocket client's close
// after "fanout.resync: ") and the reason label of the Prometheus metric.
func (r ResyncReason) String() string {
	switch r {
	case ResyncUnknown:
		return "unknown"
	case ResyncUnavailable:
		return "unavailable"
	case ResyncLost:
		return "lost"
	}
	return fmt.Sprintf("ResyncReason(%d)", uint8(r))
}
