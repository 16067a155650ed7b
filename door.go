package fanout

import (
	"context"
	"errors"
	"reflect"
	"strings"

	"github.com/coder/websocket"
)

// door is what a Hub and a Broker share: the core behind them, and the
// methods that act on it. Both embed it, so each method is declared once
// and documented once, and go doc and pkgsite list it under Hub and under
// Broker alike (go/doc shows the methods of an embedded unexported type as
// the outer type's own). A Broker attached to a Hub (BrokerOptions.Hub)
// has the Hub's core: the methods act on the same subscribers, and closing
// either closes both.
type door struct {
	c *core
}

// Publish queues m for every subscriber of topic, WebSocket and SSE alike.
// It never blocks on a subscriber: a full queue triggers the slow-client
// policy for that subscriber alone. Every subscriber observes publishes in
// the same order. With a ReplayStore (or an Engine that stores), m is
// stored first and subscribers receive the stored copy, carrying its ID.
// It fails with ErrClosed once the Hub or Broker is closing.
func (d *door) Publish(ctx context.Context, topic string, m *Message) error {
	return d.c.publish(ctx, topic, false, m, nil)
}

// Broadcast queues m for every subscriber, as Publish does for a topic's.
// It returns once m is queued: the subscribers' writers start after the
// fan-out, so its cost per subscriber does not grow with their number
// (see docs/benchmarks.md).
func (d *door) Broadcast(ctx context.Context, m *Message) error {
	return d.c.publish(ctx, "", true, m, nil)
}

// BroadcastFilter queues m for every subscriber for which keep returns
// true. keep runs on the publishing goroutine, while publishing is
// serialized, so it must be quick and must not publish or close the Hub
// or Broker. m is not stored for replay.
func (d *door) BroadcastFilter(ctx context.Context, m *Message, keep func(*Subscriber) bool) error {
	return d.c.publish(ctx, "", true, m, keep)
}

// Subscribers returns the current subscribers (those that receive
// broadcasts).
func (d *door) Subscribers() []*Subscriber { return d.c.subscribers() }

// Len returns the number of subscribers that receive broadcasts.
func (d *door) Len() int { return d.c.len() }

// NumSubscribers returns the number of subscribers of topic.
func (d *door) NumSubscribers(topic string) int { return d.c.topicLen(topic) }

// TopicSubscribers returns this process's subscribers of topic, to Send
// to or inspect.
func (d *door) TopicSubscribers(topic string) []*Subscriber { return d.c.topicSubscribers(topic) }

// Topics returns this process's topics that have subscribers, with how
// many each has.
func (d *door) Topics() map[string]int { return d.c.topicCounts() }

// Presence returns the members of topic: on every process that shares
// the engine when it tells them (the Redis engine does: see
// PresenceEngine), on this one otherwise. Subscribers are members once
// OnConnect has run, until they leave (see HubOptions.OnJoin).
func (d *door) Presence(ctx context.Context, topic string) ([]Member, error) {
	return d.c.presence(ctx, topic)
}

// Stats returns a snapshot of the counters, of WebSocket and SSE
// subscribers alike when a Broker is attached to a Hub. For a stream
// through an SSE ResponseWriter, Writes counts flushes: net/http may split
// a large batch into a few socket writes.
func (d *door) Stats() Stats { return d.c.snapshot() }

// EngineMetrics returns what the engine measured, when it is a
// MeasuredEngine, or nil. A metrics collector calls it on each scrape.
func (d *door) EngineMetrics() []EngineMetric { return d.c.engineMetrics() }

// Shutdown stops accepting subscribers (ServeHTTP answers 503) and
// publishes (ErrClosed), writes what is queued for each subscriber, ends
// each subscription (a WebSocket connection with StatusGoingAway, an SSE
// response by its end), and returns once every goroutine the Hub or
// Broker started has exited. If ctx ends first, the remaining connections
// are cut and ctx's error is returned. Safe to call more than once, and
// concurrently with Close.
//
// Shutdown ends SSE responses, which http.Server.Shutdown alone would wait
// for forever (for streams the Broker did not take over), or not close at
// all (for those it did, and for WebSocket connections): call it before
// (or while) shutting the server down.
func (d *door) Shutdown(ctx context.Context) error { return d.c.shutdown(ctx) }

// Close is Shutdown without draining: queued messages are discarded,
// writes in progress are interrupted (not a close frame being written, as
// by a Shutdown under way), and each WebSocket connection gets a
// going-away close frame without waiting for the reply. It returns once
// every goroutine the Hub or Broker started has exited. Safe to call more
// than once.
func (d *door) Close() error {
	d.c.close()
	return nil
}

// inheritAccess gives an attached Broker the Hub's Authorize and hooks,
// field by field, where the Broker sets none of its own: a second door
// into a Hub must not let in whom the first refuses (a Broker's default
// Authorize trusts ?topic=), nor bypass the hooks the Hub relies on to
// know who is here. A field the Broker does set is its own, explicit
// choice (see BrokerOptions.Hub).
func (o *BrokerOptions) inheritAccess(h *HubOptions) {
	if o.Authorize == nil {
		o.Authorize = h.Authorize
	}
	if o.OnConnect == nil {
		o.OnConnect = h.OnConnect
	}
	if o.OnDisconnect == nil {
		o.OnDisconnect = h.OnDisconnect
	}
	if o.OnResync == nil {
		o.OnResync = h.OnResync
	}
	if o.OnJoin == nil {
		o.OnJoin = h.OnJoin
	}
	if o.OnLeave == nil {
		o.OnLeave = h.OnLeave
	}
}

// mustNotOwnCore panics when o, attached to a Hub, sets an option of the
// core it shares with the Hub: the Broker would ignore it, and a
// configuration that says what does not happen is a mistake found best
// at startup, as net/http's ServeMux finds two handlers for one pattern.
// (NewBroker returns no error: a standalone Broker cannot fail, and an
// attached one fails only so.) Every field of DeliveryOptions and Limits
// counts, with those added later.
func (o *BrokerOptions) mustNotOwnCore() {
	var set []string
	d := reflect.ValueOf(o.DeliveryOptions)
	for i := range d.NumField() {
		if !d.Field(i).IsZero() {
			set = append(set, "DeliveryOptions."+d.Type().Field(i).Name)
		}
	}
	if o.Limits != (Limits{}) {
		set = append(set, "Limits")
	}
	if o.Replay != nil {
		set = append(set, "Replay")
	}
	if o.Engine != nil {
		set = append(set, "Engine")
	}
	if len(set) > 0 {
		panic("fanout: NewBroker: with Hub set, BrokerOptions must not set " + strings.Join(set, ", ") +
			": an attached Broker has the Hub's (see BrokerOptions.Hub)")
	}
}

// What the Hub and the Broker run when a subscriber comes and goes.

// connected runs OnConnect. The subscription's goroutines are already
// running, so a hook that panics cannot strand it; OnDisconnect waits for
// OnConnect to return.
func (h *Hub) connected(s *Subscriber) {
	if h.opts.OnConnect != nil {
		h.opts.OnConnect(s)
	}
	h.c.announceJoins(s)
}

// disconnected runs OnDisconnect for s, which ended for why (err).
func (h *Hub) disconnected(s *Subscriber, why endReason, err error) {
	if cause := s.endCause(); cause != nil {
		err = cause
	}
	if why != endClient && why != endDead && why != endPanic && why != endBadData && why != endRate || errors.Is(err, context.Canceled) {
		err = nil // ended by us, or by the application's context
	}
	if websocket.CloseStatus(err) == websocket.StatusNormalClosure ||
		websocket.CloseStatus(err) == websocket.StatusGoingAway {
		err = nil
	}
	h.opts.Logger.Debug("fanout: subscriber ended", "subscriber", s.id, "reason", why, "err", err,
		"delivered", s.Delivered(), "dropped", s.Dropped())
	defer h.c.finish(s)
	h.c.leaving(s)
	if h.opts.OnDisconnect != nil {
		defer h.c.recovered("OnDisconnect", s, nil)
		h.opts.OnDisconnect(s, err)
	}
}

// connected runs the hooks of a new subscriber.
func (b *Broker) connected(s *Subscriber, lastID string, resync error) {
	if b.opts.OnConnect != nil {
		b.opts.OnConnect(s)
	}
	b.c.announceJoins(s)
	b.c.resumeFailed(resync)
	if resync != nil && b.opts.OnResync != nil {
		b.opts.OnResync(s, lastID, resync)
	}
	if b.opts.ForgetRequest {
		s.req.Store(nil)
	}
}

// disconnected runs OnDisconnect for s, which ended for why (err): an
// error only when a hook panicked, for an SSE client may leave at any time.
func (b *Broker) disconnected(s *Subscriber, why endReason, err error) {
	if cause := s.endCause(); cause != nil {
		err = cause
	}
	if why != endPanic || errors.Is(err, context.Canceled) {
		err = nil // the client went away, or we ended it: both normal for SSE
	}
	b.opts.Logger.Debug("fanout: subscriber ended", "subscriber", s.id, "reason", why, "err", err,
		"delivered", s.Delivered(), "dropped", s.Dropped())
	defer b.c.finish(s)
	b.c.leaving(s)
	if b.opts.OnDisconnect != nil {
		defer b.c.recovered("OnDisconnect", s, nil)
		b.opts.OnDisconnect(s, err)
	}
}
