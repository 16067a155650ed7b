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
	sink  sink

	identity any    // Grant.Identity
	group    string // Grant.Group
	hooks    *hooks // the hooks of the handler that accepted it

	topics    []string // guarded by the core's mu
	home      int      // the engine's partition of its first topic: whose broadcasts it gets
	announced bool     // OnJoin was called for its first topics (guarded by the core's mu)
	left      []string // the topics it was detached from, for OnLeave (guarded by the core's mu)

	mu          sync.Mutex // guards the fields below
	subprotocol string     // known once the handshake is done
	q           fifo
	qBytes      int
	backlog     int           // replayed messages at the head of q: they do not count against the limits
	backlogSize int           // their payload bytes
	bigBytes    int           // the payload of the message larger than QueueBytes that waits (0: none); not counted against QueueBytes
	stitching   bool          // resuming: live messages queue, the writer waits for the history (see core.subscribe)
	pager       *pager        // the pages of its history left to read (see queuePage); nil: none
	room        chan struct{} // closed when the queue has room again, for publishers waiting (PolicyBlock)
	replayedTo  Position      // the end of its history: the feed may still deliver what precedes it
	state       subState
	why         endReason
	grace       *time.Timer // interrupts the write in progress of an ended subscriber
	retired     bool        // the writer has returned (or never started)
	cause       error       // why it ended, when that is an error of ours (a hook's panic)

	wake     chan struct{} // capacity 1: "look at the queue and state" (nil when no writer sleeps)
	onDemand atomic.Bool   // writers run on goroutines of their own (see writeOnDemand)
	drainFn  func()        // s.drain
	writing  bool          // such a writer is running, or the last one ran (guarded by mu)
	wctx     context.Context
	wdone    func(why endReason, err error)
	done     chan struct{} // closed once the subscription has ended
	pingDue  atomic.Bool
	kaEvery  time.Duration // keepalive interval; 0: none

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

// endReason says why a subscription ended; transports map it to a close
// status.
type endReason uint8

const (
	endNone     endReason = iota
	endClient             // the client went away or the connection failed
	endSlow               // PolicyClose
	endShutdown           // Hub Close or Shutdown
	endApp                // Subscriber.Close
	endDead               // no answer to keepalive pings
	endPanic              // a hook panicked while serving this subscriber
	endBadData            // the client sent a text message that is not UTF-8
	endRate               // the client sent messages faster than Limits.MessageRate
	endResync             // a plain WebSocket client's stream broke (see StatusResync)
)

// String names the reason, for logs.
func (r endReason) String() string {
	switch r {
	case endClient:
		return "client"
	case endSlow:
		return "slow"
	case endShutdown:
		return "shutdown"
	case endApp:
		return "closed by application"
	case endDead:
		return "dead peer"
	case endPanic:
		return "hook panic"
	case endRate:
		return "message rate"
	case endBadData:
		return "invalid UTF-8 from client"
	case endResync:
		return "resync"
	}
	return "none"
}

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

// receiving reports whether the subscription goes on, so its client's
// messages are read (not while it ends: its close handshake reads then).
func (s *Subscriber) receiving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == subActive || s.state == subRemoved
}

func (s *Subscriber) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == subActive
}

type enqueueResult uint8

const (
	queued enqueueResult = iota
	full
	gone
)

// enqueue queues m without blocking; on a full queue it applies the
// slow-client policy.
//
// The queue is full when it holds QueueSize messages, or when m would take
// the bytes it holds past QueueBytes. A message larger than QueueBytes is
// not counted in those bytes: it fits behind anything, and anything that
// fits fits behind it, so that one large message never makes a reading
// subscriber slow, whether or not its writer has taken it yet. Only one
// such message may wait at a time: a second one, arriving before the
// writer took the first, finds the queue full. So a subscriber's queue
// pins at most QueueBytes plus one larger message.
func (s *Subscriber) enqueue(m *Message) enqueueResult {
	size := len(m.data)
	o := s.opts
	s.mu.Lock()
	if s.state != subActive {
		s.mu.Unlock()
		return gone
	}
	if s.replayedTo.Epoch != "" && s.replayed(m) {
		s.mu.Unlock()
		return queued // it was in the replay
	}
	if p := s.pager; p != nil && !p.reading && p.holds(m) {
		s.mu.Unlock()
		return queued // a page of its history, yet to be read, holds it
	}
	n, bytes := s.q.n-s.backlog, s.qBytes-s.backlogSize-s.bigBytes
	big := size > o.QueueBytes
	maxN, maxBytes := o.QueueSize, o.QueueBytes
	if o.Policy == PolicyBlock { // publishers waited for room: see core.waitForRoom
		maxN, maxBytes = 2*maxN, 2*maxBytes
	}
	if n >= maxN || big && s.bigBytes > 0 || !big && bytes+size > maxBytes {
		if p := s.pager; p != nil && p.holds(m) {
			p.overflow = true // a page of its history, yet to be read, holds it
			s.mu.Unlock()
			return queued
		}
		ev := s.slowEventLocked(SlowQueueFull, 1)
		s.mu.Unlock()
		s.slow(ev)
		return full
	}
	s.q.push(m)
	s.qBytes += size
	if big {
		s.bigBytes = size
	}
	// Wake the writer when there is news: the queue was empty, or (for a
	// writer lingering in FlushDelay) a full batch is waiting.
	wake := s.q.n == 1 || (s.q.n == s.opts.MaxBatch && s.opts.FlushDelay > 0)
	s.mu.Unlock()
	if wake {
		s.signal()
	}
	return queued
}

// replayed reports whether m was in the history s was given when it
// subscribed, so must not be queued again. The feed delivers in position
// order, so the first message past the history ends the check. s.mu must
// be held.
func (s *Subscriber) replayed(m *Message) bool {
	switch {
	case m.pos.IsZero(): // not stored: Send, BroadcastFilter, a signal
		return false
	case m.pos.SameLog(s.replayedTo) && m.pos.Offset <= s.replayedTo.Offset:
		return true
	}
	s.replayedTo = Position{}
	return false
}

// slowEventLocked describes a slow event concerning n messages, with the
// queue as it stands; s.mu must be held.
func (s *Subscriber) slowEventLocked(r SlowReason, n int) SlowEvent {
	return SlowEvent{Subscriber: s, Reason: r, Policy: s.opts.Policy,
		QueueLen: s.q.n, QueueBytes: s.qBytes, Messages: n}
}

// slow applies the slow-client policy for ev. The messages ev concerns are
// counted as dropped whatever the policy: none of them reach the client.
func (s *Subscriber) slow(ev SlowEvent) {
	p := ev.Policy
	if s.opts.OnSlow != nil {
		p = s.opts.OnSlow(ev)
	}
	if p != PolicyDrop && p != PolicyRemove {
		p = PolicyClose // the default, for a policy not known
	}
	s.opts.Logger.Debug("fanout: slow subscriber", "subscriber", s.id,
		"reason", ev.Reason, "policy", p, "queue", ev.QueueLen, "messages", ev.Messages)
	s.dropped.Add(uint64(ev.Messages))
	s.stats.dropped.Add(uint64(ev.Messages))
	switch p {
	case PolicyRemove:
		if s.remove() {
			s.stats.slowRemoved.Add(1)
		}
	case PolicyClose:
		if s.end(endSlow, false) {
			s.stats.slowClosed.Add(1)
		}
	}
	if o := s.opts.Observer; o != nil {
		o.SubscriberSlow(ev, p)
	}
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

// wakeChan returns the channel that wakes the writer of a subscriber of c
// writing to sk, where one sleeps: on the goroutine of an SSE response
// written through its ResponseWriter (see run), or lingering in
// FlushDelay. On-demand writers need none otherwise: an idle subscriber
// holds none.
func wakeChan(flushDelay time.Duration, sk sink) chan struct{} {
	if _, loop := sk.(*sseSink); loop || flushDelay > 0 {
		return make(chan struct{}, 1)
	}
	return nil
}

// signal tells the writer there is something to do, without blocking: it
// wakes a writer that sleeps (or lingers in FlushDelay), or starts an
// on-demand one when none runs.
func (s *Subscriber) signal() {
	if s.wake != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if !s.onDemand.Load() {
		return
	}
	s.mu.Lock()
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		go s.drainFn() // a func value made once: a go statement with a method value would allocate
	}
}

// counters are the live values behind Stats.
type counters struct {
	published, delivered, dropped     atomic.Uint64
	batches, writes, bytes            atomic.Uint64
	slowRemoved, slowClosed, timeouts atomic.Uint64
	inboundDropped                    atomic.Uint64
}
