package fanout

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	ssewire "github.com/fanout-go/fanout/internal/sse"
	"github.com/fanout-go/fanout/internal/wsconn"
)

// BrokerOptions configures a Broker. The zero value (or a nil
// *BrokerOptions) is a good default for every field.
//
// A Broker of its own (Hub unset) has a core of its own, configured as a
// Hub's is: the fields HubOptions has too (Limits, Replay, Engine,
// Authorize, the hooks, ForgetRequest, SendBufferSize) work as the Hub's
// do, and each comment here says what that is for SSE. They are declared
// in both structs, not in one that both embed, so that a literal names
// what it sets in one flat list. A Broker attached to a Hub has the Hub's
// core, and must leave that core's options unset (see Hub).
type BrokerOptions struct {
	// DeliveryOptions bounds each subscriber's queue and batches, and sets
	// the slow-client policy. Must be zero when Hub is set (the Hub's
	// apply: see Hub).
	DeliveryOptions

	// Replay, if set, stores each published message and assigns its ID
	// (the SSE id field), so that an EventSource that reconnects, sending
	// Last-Event-ID, gets exactly what it missed. Messages sent with
	// BroadcastFilter or Subscriber.Send are not stored. Must be nil when
	// Hub is set (the Hub's store serves both). Ignored when Engine is set.
	// A store serves one Hub or Broker at a time: given to another, it is
	// handed over, and this Broker's Publish fails with ErrClosed (see
	// HubOptions.Replay). Defaults to none.
	Replay ReplayStore

	// Engine, if set, orders, stores and distributes the Broker's
	// messages (see Engine, and HubOptions.Engine). Must be nil when Hub
	// is set (the Hub's engine serves both). Defaults to the in-process
	// engine over Replay.
	Engine Engine

	// Hub, if set, makes the Broker a second door into that Hub: SSE
	// subscribers join the Hub's topics, so one Publish (on either) reaches
	// WebSocket and SSE subscribers alike, prepared once per wire format
	// and stored once, with one ID, in the Hub's ReplayStore. The Hub's
	// DeliveryOptions and Replay then apply, Stats counts both kinds of
	// subscriber, and closing either closes both.
	//
	// The options of that shared core are the Hub's alone: DeliveryOptions
	// (every field), Limits, Replay and Engine must be left unset, and
	// NewBroker panics, naming them, when one is set; it would have no
	// effect. What the Broker may set is its own: Heartbeat, Retry,
	// ThroughResponseWriter, SendBufferSize (the Hub's by default) and
	// ForgetRequest, and Authorize and the hooks below.
	//
	// The Broker also takes the Hub's Authorize and its OnConnect,
	// OnDisconnect, OnResync, OnJoin and OnLeave hooks, each one that
	// the Broker does not set itself: with nothing else set, an SSE
	// request is refused exactly when a WebSocket request would be. A
	// field the Broker sets replaces the Hub's for SSE subscribers: an
	// Authorize of its own decides alone who may subscribe through it.
	Hub *Hub

	// Authorize, if set, sees each request before it is subscribed and
	// returns what it is granted: its topics, identity and group (see
	// Grant). A Refusal refuses it with the Refusal's status, headers and
	// body (204 No Content tells an EventSource not to reconnect); an
	// error wrapping ErrUnauthorized with 401, ErrForbidden with 403,
	// ErrInvalidTopic with 400, any other error with 500.
	//
	// Defaults to the Hub's Authorize when Hub is set. Without either,
	// anyone may subscribe to any topic: a subscriber joins the topics
	// named by the request's "topic" query parameters (?topic=a&topic=b),
	// whoever sends it. Set Authorize unless every topic is public.
	Authorize func(r *http.Request) (Grant, error)

	// Limits bound the subscribers the Broker admits, in all and per
	// Grant.Group, and the topics of each (MessageRate does not apply:
	// SSE clients send nothing). Must be zero when Hub is set: the Hub's
	// limits count both kinds of subscriber. The zero value bounds the
	// topics of a subscriber (100), and nothing else.
	Limits Limits

	// OnJoin and OnLeave, if set, are called when a subscriber joins or
	// leaves a topic (see HubOptions.OnJoin). Default to the Hub's when
	// Hub is set.
	OnJoin, OnLeave func(s *Subscriber, topic string)

	// SendBufferSize, if positive, sets the kernel send buffer (SO_SNDBUF)
	// of each connection the Broker takes over (see
	// HubOptions.SendBufferSize); a client that does not read is then found
	// slow sooner. Defaults to the Hub's when Hub is set, else to the
	// operating system's default.
	SendBufferSize int

	// ForgetRequest releases each subscriber's request once the connect
	// hooks have returned (see HubOptions.ForgetRequest): an idle stream
	// taken over then costs about 1.2 KiB less. Defaults to keeping it.
	ForgetRequest bool

	// OnConnect, if set, is called with each new subscriber once it is
	// subscribed and its response headers are flushed, on ServeHTTP's
	// goroutine. Defaults to the Hub's when Hub is set.
	OnConnect func(s *Subscriber)

	// OnDisconnect, if set, is called once a subscriber has ended, with
	// the error that ended it (nil when the client went away or the
	// server ended it). Defaults to the Hub's when Hub is set.
	OnDisconnect func(s *Subscriber, err error)

	// OnResync, if set, is called when a client asked to resume from
	// lastID and could not be (err wraps ErrUnknownID, or is the store's
	// error): it received a ResyncEvent instead of what it missed. It runs
	// after OnConnect, on the same goroutine; or, when a later page of its
	// history could not be read (a client that read slowly found it
	// evicted), on the subscriber's writer, with the ID it had reached.
	// Defaults to the Hub's when Hub is set.
	OnResync func(s *Subscriber, lastID string, err error)

	// Heartbeat is how often an idle stream gets a comment line, so that
	// proxies and load balancers keep it open and a dead client is found
	// by a failing write. Defaults to 15s; negative disables.
	Heartbeat time.Duration

	// Retry, if positive, is sent to each client as the SSE retry field:
	// how long EventSource waits before reconnecting. Defaults to the
	// client's own default (a few seconds in browsers). It is sent as an
	// event of its own, with no data: browsers dispatch nothing for it,
	// but some clients (go-sse's) report it as an empty event.
	Retry time.Duration

	// ThroughResponseWriter makes every stream go through the
	// http.ResponseWriter over HTTP/1, as it does over HTTP/2 (where this
	// changes nothing): each batch is written, then flushed once, and
	// ServeHTTP runs as long as the stream. Middleware then sees a stream
	// as any other response: a logger records 200, the bytes and the
	// duration, a tracing span lasts as long as the stream, and compressing
	// middleware compresses it batch by batch (the flush reaches it through
	// Unwrap chains, as with http.ResponseController). The ResponseWriter
	// must be able to flush (ServeHTTP answers 500 otherwise), and
	// middleware should implement Unwrap: without it the connection's
	// write deadline is out of reach, so http.Server.WriteTimeout cuts the
	// stream, and a write that blocks can be neither timed out nor
	// interrupted (Close waits for it).
	//
	// It is off by default: over HTTP/1 the Broker takes each connection
	// over once its headers are out (see Broker), and ServeHTTP returns at
	// once, so net/http drops the request's buffers and the handler's
	// goroutine. An idle subscriber then costs about 8 KiB of heap and
	// goroutine stacks, against about 26 KiB through the ResponseWriter
	// (15 KiB of heap, 12 KiB of stacks: measured at 2,000 idle streams,
	// `go run . -idle 2000 -peers fanout-broker,fanout-broker-rw` in
	// bench/). But middleware sees a handler that returned at once without
	// writing: a logger records no status and no bytes (chi's Logger:
	// "- 000 0B"), a tracing span ends before the first event, and a
	// compressing middleware is bypassed (a Content-Encoding it set is
	// dropped, so the events still arrive, uncompressed). The default is
	// what costs least where subscribers are many and mostly idle, and the
	// field is named so that its zero value is that default; set it when
	// what middleware sees, or compression, is worth the difference.
	ThroughResponseWriter bool
}

// Broker fans messages out to Server-Sent Events subscribers (EventSource
// in browsers). It is an http.Handler: mount it on a mux, behind any
// middleware that lets the response be flushed. It shares the Hub's
// queues, coalescing writer, policies and lifecycle: all the events queued
// for a subscriber leave in one write.
//
// Over HTTP/1 the Broker takes each connection over once its headers are
// out (Hijack, found through http.ResponseController, so middleware that
// implements Unwrap works) and streams on it from goroutines of its own,
// as the Hub does: ServeHTTP returns, net/http frees the request's
// buffers, and a batch leaves in one writev. An idle subscriber then costs
// a few KiB. Where the connection cannot be taken over (HTTP/2, a writer
// that can only flush), or when BrokerOptions.ThroughResponseWriter is
// set, the Broker streams through the ResponseWriter, writing a batch and
// flushing once, and ServeHTTP runs as long as the stream, so that
// middleware (logging, tracing, compression) sees it. On a stream it took
// over, the Broker reads what the client
// sends only to notice it leave: an EventSource sends nothing after its
// request, and a client that sends more than 4 KiB (an endless request
// body, say) has its stream closed.
//
// A Broker is safe for concurrent use. Close or Shutdown it when done.
type Broker struct {
	door     // the core (the Hub's, when attached), and the methods Hub and Broker share
	opts     BrokerOptions
	hooks    hooks
	prelude  []byte       // written after the headers: the retry field, if any
	givenLog *slog.Logger // DeliveryOptions.Logger as given (the Hub's when attached; nil: none)
}

// NewBroker returns a Broker configured by opts (nil for defaults). opts is
// copied; later changes to it have no effect.
//
// It panics when opts.Hub is set together with an option of the core the
// Broker then shares with the Hub (DeliveryOptions, Limits, Replay,
// Engine: see BrokerOptions.Hub), which it could only ignore. Like
// http.ServeMux's panic on a pattern registered twice, it finds a mistake
// in the program when it starts; a Broker constructed is never refused
// later for its options.
func NewBroker(opts *BrokerOptions) *Broker {
	b := &Broker{}
	if opts != nil {
		b.opts = *opts
	}
	o := &b.opts
	switch {
	case o.Heartbeat == 0:
		o.Heartbeat = 15 * time.Second
	case o.Heartbeat < 0:
		o.Heartbeat = 0
	}
	if o.Retry > 0 {
		b.prelude = sseRetry(o.Retry)
	}
	if o.Hub != nil {
		o.mustNotOwnCore()
		o.inheritAccess(&o.Hub.opts)
	}
	b.hooks = hooks{onResync: o.OnResync, onJoin: o.OnJoin, onLeave: o.OnLeave}
	b.givenLog = o.Logger
	if o.Hub != nil {
		b.givenLog = o.Hub.givenLog
		b.c = o.Hub.c
		b.c.formats.Or(formatSSE)
		o.DeliveryOptions, o.Limits, o.Replay, o.Engine = b.c.opts, b.c.limits, nil, b.c.eng
		if o.SendBufferSize == 0 {
			o.SendBufferSize = o.Hub.opts.SendBufferSize
		}
	} else {
		b.c = newCore(o.DeliveryOptions, o.Limits, o.Engine, o.Replay, formatSSE)
		o.DeliveryOptions, o.Limits = b.c.opts, b.c.limits
	}
	return b
}

// ServeHTTP subscribes the client and streams events to it until the
// client goes away or the subscription ends (over HTTP/1, unless
// BrokerOptions.ThroughResponseWriter is set, on goroutines of the
// Broker's, after ServeHTTP has returned). Its headers are sent as
// soon as it is subscribed, before any event. A request with a
// Last-Event-ID header (or a lastEventId query parameter) first gets what
// it missed (see BrokerOptions.Replay), or a ResyncEvent; with a store, a
// new one first gets its position (a PositionEvent: the store's head).
//
// It answers 405 to methods other than GET, 500 when the response can be
// neither flushed nor taken over (no streaming; with ThroughResponseWriter,
// when it cannot be flushed), 503 once the Broker is closing, 400 for a
// query that cannot be parsed, 400/401/403/500 when the topics are empty
// or Authorize refuses, and 400, 503 or 429 over Limits: see "HTTP
// statuses" in docs/authorization.md. Every one of these checks runs
// before the engine is asked anything.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	case !b.takesOver(w, r) && !canFlush(w):
		why := cannotStream(w, !b.opts.ThroughResponseWriter && r.ProtoMajor == 1)
		refuseUnservable(w, r, b.givenLog, http.StatusInternalServerError, why)
		return
	case b.c.isClosing():
		refuseClosing(w)
		return
	}
	grant, err := authorize(r, b.opts.Authorize, b.opts.Logger)
	if err != nil {
		refuse(w, err)
		return
	}
	if b.takesOver(w, r) {
		b.serveConn(w, r, grant)
		return
	}
	sk := newSSESink(w, b.opts.Heartbeat)
	s, lastID, resync, ok := b.subscribe(w, r, grant, sk)
	if !ok {
		return
	}
	sk.clearDeadline() // a stream outlives http.Server.WriteTimeout
	ssewire.Header(w.Header())
	w.WriteHeader(http.StatusOK)
	if len(b.prelude) > 0 {
		_, _ = w.Write(b.prelude)
	}
	if err := sk.rc.Flush(); err != nil {
		s.retire(endClient)
		b.c.finish(s)
		return
	}
	b.connected(s, lastID, resync)
	why, err := s.writeUntilEnd(r.Context())
	b.disconnected(s, why, err)
}

// takesOver reports whether r's stream is served on its connection, taken
// over from net/http (see serveConn), rather than through w.
func (b *Broker) takesOver(w http.ResponseWriter, r *http.Request) bool {
	return !b.opts.ThroughResponseWriter && r.ProtoMajor == 1 && canHijack(w)
}

// subscribe subscribes r's client, writing to sk, to what g grants, with
// what it missed since its Last-Event-ID queued first. It answers (503
// once the Broker is closing, or as a limit's Refusal says) and reports
// false when it cannot.
func (b *Broker) subscribe(w http.ResponseWriter, r *http.Request, g Grant, sk sink) (s *Subscriber, lastID string, resync error, ok bool) {
	s = newSubscriber(b.c, r, "", sk, &b.hooks, g)
	s.kaEvery = b.opts.Heartbeat
	lastID = lastEventID(r)
	resync, err := b.c.subscribe(r.Context(), s, g.Topics, lastID, true)
	if err != nil {
		refuseSubscribe(w, err)
		return nil, "", nil, false
	}
	return s, lastID, resync, true
}

// serveConn serves an HTTP/1 subscriber on its hijacked connection, as the
// Hub does: its writer (and a reader that notices the client leave) run on
// goroutines the Broker owns, and ServeHTTP returns. net/http then frees
// the request's buffers and the deep stack of its connection goroutine,
// which would otherwise cost every idle subscriber about 10 KiB; and each
// batch leaves in one writev, straight from the shared events.
func (b *Broker) serveConn(w http.ResponseWriter, r *http.Request, g Grant) {
	sk := &sseConnSink{heartbeat: b.opts.Heartbeat, sendBuffer: b.opts.SendBufferSize}
	s, lastID, resync, ok := b.subscribe(w, r, g, sk)
	if !ok {
		return
	}
	ssewire.Header(w.Header())
	head, err := ssewire.ResponseHead(w.Header(), b.prelude)
	var raw *wsconn.Conn
	if err == nil {
		raw, err = sk.hijack(w, head, b.c.opts.WriteTimeout)
	}
	if err != nil {
		b.opts.Logger.Debug("fanout: SSE stream", "err", err, "remote", r.RemoteAddr)
		s.retire(endClient)
		b.c.finish(s)
		return
	}
	hooked := make(chan struct{})
	ctx := context.WithoutCancel(r.Context()) // the values middleware added
	if b.opts.ForgetRequest {
		ctx = context.Background()
	}
	b.serve(ctx, s, raw, hooked)
	defer close(hooked) // even if a hook panics: OnDisconnect waits for it
	b.connected(s, lastID, resync)
}

// serve runs a subscriber on a hijacked connection: a watcher that ends
// the subscription when the client closes the connection (see
// startWatcher), and on-demand writers (see writeOnDemand).
func (b *Broker) serve(ctx context.Context, s *Subscriber, raw *wsconn.Conn, hooked <-chan struct{}) {
	r := b.startWatcher(s, raw)
	s.writeOnDemand(ctx, func(why endReason, err error) {
		r.Stop()
		<-r.Done() // closing the connection ended it
		<-hooked
		b.disconnected(s, why, err)
	})
}
