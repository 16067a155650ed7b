package fanout

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Subscriber is one connected client of a Hub (or Broker). It is safe for
// concurrent use. A Subscriber is handed to hooks and filters; applications
// keep it to send to one client or change its topics.
type Subscriber struct {
	id    uint64
	host  host             // the core that registered it
	opts  *DeliveryOptions // the core's
	stats *counters        // the core's, which the subscriber adds to
	req   atomic.Pointer[http.Request]

	identity any    // Grant.Identity
	group    string // Grant.Group
	hooks    *hooks // the hooks of the handler that accepted it

	topics    []string // guarded by the core's mu
	home      int      // the engine's partition of its first topic: whose broadcasts it gets
	announced bool     // OnJoin was called for its first topics (guarded by the core's mu)
	left      []string // the topics it was detached from, for OnLeave (guarded by the core's mu)

	mu          sync.Mutex // guards the fields below, and its queue's
	subprotocol string     // known once the handshake is done
	subQueue               // its messages and their bounds (queue.go)
	state       subState
	why         endReason
	grace       *time.Timer // interrupts the write in progress of an ended subscriber
	retired     bool        // the writer has returned (or never started)
	cause       error       // why it ended, when that is an error of ours (a hook's panic)

	subWriter               // what writes its queue to its connection (coalesce.go)
	done      chan struct{} // closed once the subscription has ended

	delivered, dropped atomic.Uint64

	closeCode   StatusCode // set by CloseWith (guarded by mu)
	closeReason string     // CloseWith's, or a resync's close reason (see resyncClose)
}

// host is what a subscriber asks of the core that registered it: its
// topics in the core's registry, the checks of a message sent to it alone,
// and the pages of its history. The core implements it, so that delivery
// names no core.
type host interface {
	topicsOf(s *Subscriber) []string
	addTopics(ctx context.Context, s *Subscriber, topics []string) error
	dropTopics(s *Subscriber, topics []string)
	send(s *Subscriber, m *Message) error
	// detach removes s from every topic and the broadcast set. Idempotent.
	detach(s *Subscriber)
	// nextPage reads the next page of s's history and queues it (see
	// queuePage); it reports whether it queued anything.
	nextPage(s *Subscriber) bool
	// recovered is deferred around an application hook run on a
	// goroutine the library owns: a panic ends s (and sets *err).
	recovered(hook string, s *Subscriber, err *error)
	// startWriter runs drain, an on-demand writer, on a goroutine the
	// core owns (see writerCache).
	startWriter(drain func())
}

// counters are the live values behind Stats.
type counters struct {
	published, delivered, dropped     atomic.Uint64
	batches, writes, bytes            atomic.Uint64
	slowRemoved, slowClosed, timeouts atomic.Uint64
	inboundDropped                    atomic.Uint64
}

// hooks are the hooks of a handler (Hub or Broker) that its subscribers
// call back from the core.
type hooks struct {
	onResync func(s *Subscriber, lastID string, err error)
	onJoin   func(s *Subscriber, topic string)
	onLeave  func(s *Subscriber, topic string)
}

var noHooks = &hooks{}

type subState uint8

const (
	subActive   subState = iota
	subRemoved           // PolicyRemove: no new messages; the connection stays
	subDraining          // write what is queued, then end
	subEnding            // end now; what is queued is discarded
)

// ID returns the subscriber's identifier, unique within its Hub.
func (s *Subscriber) ID() uint64 { return s.id }

// Identity returns the value its handler's Authorize hook granted it (see
// Grant.Identity; IdentityOf returns it typed), or nil.
func (s *Subscriber) Identity() any { return s.identity }

// Group returns the group its handler's Authorize hook granted it (see
// Grant.Group), or "".
func (s *Subscriber) Group() string { return s.group }

// Request returns the HTTP request that opened the subscription (with the
// context values middleware added), or nil for a registered connection,
// and, with HubOptions.ForgetRequest (BrokerOptions.ForgetRequest), once
// the connect hooks have returned. Its body must not be read.
func (s *Subscriber) Request() *http.Request { return s.req.Load() }

// Transport returns "websocket" or "sse": how the subscriber is connected
// (a Broker attached to a Hub shares the Hub's subscribers).
func (s *Subscriber) Transport() string {
	switch s.sink.(type) {
	case *sseSink, *sseConnSink:
		return "sse"
	}
	return "websocket"
}

// Subprotocol returns the WebSocket subprotocol negotiated with the client.
func (s *Subscriber) Subprotocol() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subprotocol
}

func (s *Subscriber) setSubprotocol(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subprotocol = p
}

// Topics returns the topics the subscriber is subscribed to.
func (s *Subscriber) Topics() []string {
	return s.host.topicsOf(s)
}

// Subscribe adds topics to the subscriber: it receives what is published
// to them once Subscribe has returned (no history is replayed). With an
// engine shared by several processes, it waits for the engine to carry
// the topics to this process, within ctx. It fails with ErrNotSubscribed
// once the subscriber is removed or ended, and with ErrTooManyTopics
// (wrapped) when the subscriber would have more than Limits.MaxTopics;
// then it joins none of them.
func (s *Subscriber) Subscribe(ctx context.Context, topics ...string) error {
	return s.host.addTopics(ctx, s, topics)
}

// Unsubscribe removes topics from the subscriber; it keeps receiving
// broadcasts and Send.
func (s *Subscriber) Unsubscribe(topics ...string) {
	s.host.dropTopics(s, topics)
}

// Send queues m for this subscriber alone. It never blocks: on a full queue
// the slow-client policy is applied and Send returns ErrQueueFull.
func (s *Subscriber) Send(m *Message) error {
	return s.host.send(s, m)
}

// Close ends the subscription and closes the connection (WebSocket status
// 1000, normal closure) without writing what is still queued. It does not
// wait for the connection to close; Done does.
func (s *Subscriber) Close() error {
	if !s.end(endApp, false) {
		return ErrNotSubscribed
	}
	return nil
}

// CloseWith is Close with a close status and reason of the application's
// choosing, on either transport (see StatusCode): a WebSocket client gets
// them in the close frame (StatusPolicyViolation, say, or 4000 to 4999
// for the application's own codes); an SSE client gets a CloseEvent whose
// data is the code, a space, and the reason, then the end of its stream. The reason is cut to 123 bytes, the
// most a close frame carries.
//
// An EventSource reconnects after any end of stream; a client that should
// not come back must also be refused when it does (see Refusal: 204 No
// Content stops an EventSource). The JavaScript and Go clients of this
// module stop by themselves on a CloseEvent whose code says stop (1008,
// 4000 to 4999), and treat another (1013, say) as they treat the same
// close status on a WebSocket: they reconnect and resume.
func (s *Subscriber) CloseWith(code StatusCode, reason string) error {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	s.mu.Lock()
	if s.why == endNone {
		s.closeCode, s.closeReason = code, reason
	}
	s.mu.Unlock()
	return s.Close()
}

// maxCloseReason is the longest reason a close frame carries (125 bytes
// of payload, 2 of them the code).
const maxCloseReason = 123

// Done is closed once the subscription has ended and its connection is
// released.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// QueueLen returns how many messages wait in the subscriber's queue.
func (s *Subscriber) QueueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.n
}

// QueueBytes returns the payload bytes waiting in the subscriber's queue.
func (s *Subscriber) QueueBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.qBytes
}

// Delivered returns how many messages were written to this subscriber.
func (s *Subscriber) Delivered() uint64 { return s.delivered.Load() }

// Dropped returns how many messages this subscriber missed for being slow.
func (s *Subscriber) Dropped() uint64 { return s.dropped.Load() }

// in reports whether s is in state st.
func (s *Subscriber) in(st subState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == st
}

// remove detaches s from the registry and stops new messages, leaving the
// connection open. It reports whether s was active.
func (s *Subscriber) remove() bool {
	s.mu.Lock()
	ok := s.state == subActive
	if ok {
		s.state = subRemoved
		s.freeRoomLocked()
	}
	s.mu.Unlock()
	if ok {
		s.host.detach(s)
	}
	return ok
}

// end makes the subscription end for why: once what is queued is written
// when drain is set, after the batch being written otherwise (what is
// queued is discarded). It reports whether this call decided why the
// subscription ends.
func (s *Subscriber) end(why endReason, drain bool) bool {
	s.mu.Lock()
	if s.state == subEnding || (s.state == subDraining && drain) {
		s.mu.Unlock()
		return false
	}
	first := s.why == endNone
	if first {
		s.why = why
	}
	if drain {
		s.state = subDraining
	} else {
		s.state = subEnding
		if why == endSlow { // what the client will never get because it was slow
			s.dropped.Add(uint64(s.q.n))
			s.stats.dropped.Add(uint64(s.q.n))
		}
		s.q.clear()
		s.qBytes, s.backlog, s.backlogSize, s.bigBytes = 0, 0, 0, 0
		s.pager = nil
		if s.grace == nil && !s.retired {
			s.grace = time.AfterFunc(endGrace, s.sink.abort)
		}
	}
	s.freeRoomLocked() // no publisher waits for an ending subscriber
	s.mu.Unlock()
	s.host.detach(s)
	s.signal()
	return first
}

// endGrace is how long the batch being written when a subscription ends
// without draining may take before the write is interrupted: long enough
// for a client that reads to take it (and then the close frame that tells
// it why), short enough that a client that stopped reading cannot hold the
// subscription's goroutines and connection.
const endGrace = time.Second

// retire is called once the writer has returned, or instead of starting
// one: it ends the subscription for why unless a reason was recorded first,
// stops the grace timer (no write is left to interrupt), and returns the
// reason the subscription ended for.
func (s *Subscriber) retire(why endReason) endReason {
	s.mu.Lock()
	s.retired = true
	if s.grace != nil {
		s.grace.Stop()
	}
	s.mu.Unlock()
	s.end(why, false)
	return s.reason()
}

// fail ends the subscription for why, recording err as its cause.
func (s *Subscriber) fail(why endReason, err error) {
	s.mu.Lock()
	if s.cause == nil {
		s.cause = err
	}
	s.mu.Unlock()
	s.end(why, false)
}

// endCause returns the error recorded by fail, or nil.
func (s *Subscriber) endCause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

// farewell returns how s, ending for why, says goodbye: the status
// CloseWith chose, or the one that goes with why.
func (s *Subscriber) farewell(why endReason) farewell {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why == endApp && s.closeCode != 0 {
		return farewell{why: why, code: s.closeCode, reason: s.closeReason, app: true}
	}
	code, reason := closeStatus(why)
	if why == endResync {
		reason = s.closeReason // set with the end (see Subscriber.resyncClose)
	}
	return farewell{why: why, code: code, reason: reason}
}

func (s *Subscriber) reason() endReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.why == endNone {
		return endClient
	}
	return s.why
}
