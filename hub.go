package fanout

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// HubOptions configures a Hub. The zero value (or a nil *HubOptions) is a
// good default for every field.
type HubOptions struct {
	// DeliveryOptions bounds each subscriber's queue and batches, and sets
	// the slow-client policy.
	DeliveryOptions

	// AcceptOptions is passed to websocket.Accept: origin patterns (by
	// default only same-origin requests are accepted), subprotocols, ping
	// and pong hooks. CompressionMode and CompressionThreshold are
	// ignored: frames are prepared once for every subscriber, never
	// compressed per connection (see Compression). On Linux an idle
	// connection's pongs are read by the Hub's poller, which serves every
	// idle connection: OnPongReceived then runs there and must return
	// quickly.
	AcceptOptions *websocket.AcceptOptions

	// Compression lets clients that offer permessage-deflate (RFC 7692:
	// Chromium and Firefox, Node's ws by default, gorilla/websocket and
	// coder/websocket with compression on) receive messages compressed.
	// The extension is negotiated without context takeover, so each
	// message is compressed on its own: once per publish, whatever the
	// number of subscribers, and shared by every client that negotiated
	// it; the others keep receiving the plain frame. On the packed and
	// resume subprotocols, where a frame carries a batch of the
	// subscriber's own, each message's records are compressed once per
	// publish and the frame is made of them. Messages (and batches)
	// smaller than CompressionThreshold, and those that deflate does not
	// shrink, are sent uncompressed, as RFC 7692 allows. Clients may then
	// send compressed messages too; ReadLimit bounds their inflated size.
	//
	// The trade-off: fewer bytes on the wire (for JSON of 1 KiB and more,
	// 30 to 40% of the plain size) for one compression per message
	// published (compress/flate at BestSpeed: some 10 to 30 µs for 4 KiB
	// of JSON), which delays the message's first delivery by as much; the
	// clients' CPU to inflate each message; and about 1.2 MB for each
	// compressor in use (pooled; nothing per connection). With many
	// subscribers the bytes saved usually cost the server more to write
	// than the compression (bench/README.md measures both). Stats.Bytes
	// counts the compressed bytes. Connections passed to Register are
	// written by coder/websocket, which compresses them per connection if
	// the application's own Accept negotiated it. Defaults to off: every
	// message is sent uncompressed, and no extension is accepted.
	Compression bool

	// CompressionThreshold is the size, in bytes, from which a message (a
	// packed frame's payload, on the packed and resume subprotocols) is
	// sent compressed (with Compression). Defaults to 512; negative
	// compresses a message of any size when deflate shrinks it.
	CompressionThreshold int

	// Authorize, if set, sees each request before the upgrade and returns
	// what it is granted: the topics its subscriber joins, and the
	// application's identity for it (see Grant). Returning a Refusal
	// refuses it with the Refusal's status, headers and body; an error
	// wrapping ErrUnauthorized with 401, ErrForbidden with 403,
	// ErrInvalidTopic with 400, any other error with 500; an empty topic
	// name is refused with 400 too. docs/authorization.md lists every
	// status ServeHTTP answers ("HTTP statuses"). A Broker attached
	// to the Hub (BrokerOptions.Hub) uses it too, unless it has its own.
	//
	// Without Authorize, anyone may subscribe to any topic: a subscriber
	// joins the topics named by the request's "topic" query parameters
	// (?topic=a&topic=b), whoever sends it. Set Authorize unless every
	// topic is public.
	Authorize func(r *http.Request) (Grant, error)

	// Limits bound the subscribers the Hub admits (and its attached
	// Brokers), in all and per Grant.Group, the topics of each, and the
	// rate of messages each client may send. The zero value bounds the
	// topics of a subscriber (100), and nothing else.
	Limits Limits

	// OnConnect, if set, is called with each new subscriber once it is
	// subscribed (it may already be receiving), on the goroutine that
	// accepted it (ServeHTTP's, or Register's caller).
	OnConnect func(s *Subscriber)

	// OnDisconnect, if set, is called once a subscriber has ended, with the
	// error that ended it (nil for a normal end).
	OnDisconnect func(s *Subscriber, err error)

	// OnJoin and OnLeave, if set, are called when a subscriber joins or
	// leaves a topic: for its first topics right after OnConnect, on the
	// same goroutine; for Subscriber.Subscribe and Unsubscribe, on their
	// caller's; and for the topics it still had when it ended (or was
	// removed by PolicyRemove), on its own goroutine, before OnDisconnect.
	// They let an application show who is here; Presence and Topics ask.
	// Publishing never waits for them.
	OnJoin, OnLeave func(s *Subscriber, topic string)

	// OnMessage, if set, receives each data message a client sends, on
	// that connection's reader goroutine (so one client's messages arrive
	// in order). msg may be published as is. Without OnMessage, client
	// messages are read and discarded. ctx carries the values of the
	// request's context and ends when the subscription does. Like
	// net/http with a handler, the Hub recovers a panic in OnMessage (or
	// OnDisconnect, or an OnSlow called from a writer): it is logged with
	// its stack, and only that subscriber ends, with status 1011
	// (internal error).
	OnMessage func(ctx context.Context, s *Subscriber, msg *Message)

	// ReadLimit bounds a message from a client, in bytes; a larger one
	// closes that connection with status 1009 (message too big). Defaults
	// to 32 KiB; negative means no limit.
	ReadLimit int64

	// PingInterval is how often each connection is pinged. A peer that has
	// not answered a ping when the next one is due is dead: its connection
	// is closed (reset) and its resources freed. (A ping that left more
	// than half an interval late, behind a long write, is given one
	// interval more.) So a peer that stops answering is found between one
	// and two PingIntervals after its last answer, or after it connected.
	// Defaults to 30s; negative disables.
	PingInterval time.Duration

	// Packing lets clients that offer PackedSubprotocol (or
	// PackedSubprotocolV2) receive each batch as one packed frame. Other
	// clients are unaffected. Defaults to off.
	Packing bool

	// Replay, if set, stores each published message and assigns its ID,
	// so that clients that opted in to ResumeSubprotocol can reconnect
	// with the last ID they received and get what they missed (see
	// ReplayStore). Messages sent with BroadcastFilter or Subscriber.Send
	// are not stored. Ignored when Engine is set. A store serves one Hub
	// (with the Brokers attached to it) or standalone Broker at a time:
	// given to another, it is handed over, as for a Hub that replaces
	// this one (a restart over a persistent store, a blue/green switch).
	// From then on this Hub's Publish and Broadcast fail with ErrClosed:
	// its subscribers get nothing new (the other's messages are not
	// theirs), so it should be shut down. Defaults to none.
	Replay ReplayStore

	// Engine, if set, orders, stores and distributes the Hub's messages
	// (see Engine): the Redis engine, for instance, shares them with the
	// Hubs of other processes. The Hub starts it, and closes it when the
	// Hub is closed. Defaults to the in-process engine over Replay
	// (NewLocalEngine).
	Engine Engine

	// OnResync, if set, is called when a client asked to resume from
	// lastID and could not be (err wraps ErrUnknownID, or is the store's
	// error): it received a resync signal instead of what it missed. It
	// runs after OnConnect, on the same goroutine; or, when a later page
	// of its history could not be read (a client that read slowly found
	// it evicted), on the subscriber's writer, with the ID it had reached.
	OnResync func(s *Subscriber, lastID string, err error)

	// ForgetRequest releases each subscriber's request (Subscriber.Request
	// returns nil) once the connect hooks have returned, and does not keep
	// its context's values for the subscription's own context unless
	// OnMessage is set: an idle subscriber then costs about 1.5 KiB less.
	// Use Grant.Identity for what the hooks and filters need to know
	// afterwards. Defaults to keeping the request.
	ForgetRequest bool

	// SendBufferSize, if positive, sets each accepted connection's kernel
	// send buffer (SO_SNDBUF), so large fan-outs leave in fewer writes.
	// Defaults to the operating system's default.
	SendBufferSize int
}

// Hub fans messages out to WebSocket subscribers. It is an http.Handler:
// mount it on a mux, behind any middleware. Each subscriber gets a bounded
// queue and a coalescing writer, so a slow client never delays the others
// and publishing never blocks.
//
// A Hub is safe for concurrent use. Close or Shutdown it when done.
type Hub struct {
	door     // the core, and the methods Hub and Broker share
	opts     HubOptions
	hooks    hooks
	accept   websocket.AcceptOptions
	userPong func(ctx context.Context, payload []byte) // AcceptOptions.OnPongReceived
	givenLog *slog.Logger                              // DeliveryOptions.Logger as given (nil: none)
}

// NewHub returns a Hub configured by opts (nil for defaults). opts is
// copied; later changes to it have no effect.
func NewHub(opts *HubOptions) *Hub {
	h := &Hub{}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	h.givenLog = o.Logger
	o.DeliveryOptions = o.DeliveryOptions.withDefaults()
	switch {
	case o.ReadLimit == 0:
		o.ReadLimit = 32 << 10
	case o.ReadLimit < 0:
		o.ReadLimit = -1
	}
	switch {
	case o.PingInterval == 0:
		o.PingInterval = 30 * time.Second
	case o.PingInterval < 0:
		o.PingInterval = 0
	}
	if o.AcceptOptions != nil {
		h.accept = *o.AcceptOptions
	}
	// Without context takeover only: each message is compressed once for
	// every subscriber (see permessage-deflate in prepared.go).
	h.accept.CompressionMode = acceptMode(o.Compression)
	h.accept.CompressionThreshold = 0
	switch {
	case o.CompressionThreshold == 0:
		o.CompressionThreshold = defaultCompressionThreshold
	case o.CompressionThreshold < 0:
		o.CompressionThreshold = -1
	}
	// The resume subprotocols first, so that a client offering one gets it
	// (coder/websocket picks the first of the server's subprotocols that
	// the client offers), and each v2 before its v1.
	h.accept.Subprotocols = hubSubprotocols(h.accept.Subprotocols, o.Packing)
	h.userPong = h.accept.OnPongReceived
	h.accept.OnPongReceived = routePongs(h.userPong)
	o.Limits = o.Limits.withDefaults()
	h.hooks = hooks{onResync: o.OnResync, onJoin: o.OnJoin, onLeave: o.OnLeave}
	h.c = newCore(o.DeliveryOptions, o.Limits, o.Engine, o.Replay, formatWS)
	return h
}

// ServeHTTP upgrades the request to a WebSocket and subscribes the client;
// the subscription goes on, on goroutines the Hub owns, after ServeHTTP
// returns. It answers 501 when the connection cannot be taken over (behind
// middleware whose ResponseWriter has neither Hijack nor Unwrap), 503 once
// the Hub is closing, what websocket.Accept answers to a bad handshake
// (426, 405, 400, and 403 for a cross-origin request that AcceptOptions
// does not allow), 400 for a query that cannot be parsed,
// 400/401/403/500 when the topics are empty or Authorize refuses, and
// 400, 503 or 429 over Limits: see "HTTP statuses" in
// docs/authorization.md. Every one of these checks runs before the engine is
// asked anything (no history is read for a refused request).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !canHijack(w) {
		// Accept would answer 101 through w and then fail to take the
		// connection over, leaving the client waiting: say so instead.
		refuseUnservable(w, r, h.givenLog, http.StatusNotImplemented, cannotTakeOver(w, r))
		return
	}
	if h.closing() {
		refuseClosing(w)
		return
	}
	if acceptRefuses(r, &h.accept) {
		// Before anything costs the engine work (see handshake.go).
		err := refuseHandshake(w, r, &h.accept)
		h.opts.Logger.Debug("fanout: accept", "err", err, "remote", r.RemoteAddr)
		return
	}
	grant, err := authorize(r, h.opts.Authorize, h.opts.Logger)
	if err != nil {
		refuse(w, err)
		return
	}
	// Subscribe first: once the client's handshake completes, it receives
	// everything published after. What is published meanwhile waits in the
	// queue; if the handshake fails, the subscription is dropped unseen.
	// A client that offers a resume subprotocol is given one (they come
	// first), so what it missed can be queued now too.
	resume := offers(r, ResumeSubprotocolV2) || offers(r, ResumeSubprotocol)
	var lastID string
	if resume {
		lastID = lastEventID(r)
	}
	sk := &wsSink{pongWait: h.opts.PingInterval}
	s := newSubscriber(h.c, r, "", sk, &h.hooks, grant)
	s.kaEvery = h.opts.PingInterval
	resync, err := h.c.subscribe(r.Context(), s, grant.Topics, lastID, resume)
	if err != nil {
		refuseSubscribe(w, err)
		return
	}
	hw := &hijackWriter{ResponseWriter: w, sendBuffer: h.opts.SendBufferSize, sk: sk}
	conn, err := websocket.Accept(hw, r, &h.accept)
	if err != nil || sk.raw == nil { // Accept has answered; it hijacks only through hw
		h.opts.Logger.Debug("fanout: accept", "err", err, "remote", r.RemoteAddr)
		if conn != nil {
			_ = conn.CloseNow()
		}
		s.retire(endClient)
		h.c.finish(s)
		return
	}
	conn.SetReadLimit(h.opts.ReadLimit)
	sk.conn = conn
	// The framing follows the subprotocol coder/websocket selected,
	// ignoring case too (it echoed the client's spelling): a resume one
	// exactly when the client offered one (resume), which queued the
	// replay.
	sk.framing = wsFraming(conn.Subprotocol(), h.opts.Packing)
	// Accept wrote its answer to an offer of permessage-deflate in the
	// response's header (coder/websocket does not say it otherwise).
	if h.opts.Compression {
		sk.deflateMin = deflateMin(hw.Header(), max(h.opts.CompressionThreshold, 1))
	}
	s.setSubprotocol(conn.Subprotocol())

	// The subscription outlives this call: returning lets net/http free the
	// request's buffers and the deep stack of its connection goroutine,
	// which would otherwise cost every idle subscriber several KiB. The
	// request's context is canceled on return, so the subscription gets its
	// own, keeping the values middleware added (none, when the request is
	// forgotten and no OnMessage is handed a context); one that ends with
	// the subscription when OnMessage is there to be handed it.
	ctx, cancel := context.WithoutCancel(r.Context()), context.CancelCauseFunc(func(error) {})
	if h.opts.ForgetRequest && h.opts.OnMessage == nil {
		ctx = context.Background()
	}
	if h.opts.OnMessage != nil {
		ctx, cancel = context.WithCancelCause(ctx)
	}
	hooked := make(chan struct{})
	h.serve(ctx, cancel, s, conn, sk, hooked)
	defer close(hooked) // even if a hook panics: OnDisconnect waits for it
	h.connected(s)
	h.c.resumeFailed(resync)
	if resync != nil && h.opts.OnResync != nil {
		h.opts.OnResync(s, lastID, resync)
	}
	if h.opts.ForgetRequest {
		s.req.Store(nil)
	}
}

// Register adds a connection the application accepted itself, with what
// it is granted (its topics, identity and group: see Grant), and returns
// its Subscriber. It fails with ErrTooManySubscribers or ErrTooManyTopics
// over Limits, and ErrClosed once the Hub is closing. The Hub writes to
// the connection from its own goroutine until the subscription ends (ctx
// done, Close, slow-client policy, Hub shutdown); the application must
// keep reading from it (or call CloseRead) so that pings and closes are
// handled. ctx must live as long as the connection: a request's context
// ends when its handler returns.
//
// Unlike connections the Hub accepts, coder/websocket flushes each frame of
// a registered connection separately: a batch costs one write per message,
// or one in all when the client negotiated PackedSubprotocol or
// PackedSubprotocolV2 (the application lists it in its
// AcceptOptions.Subprotocols) and Packing is set. A registered connection
// that negotiated ResumeSubprotocol (or ResumeSubprotocolV2) receives IDs,
// but nothing is replayed to it: resuming needs the request, so it is for
// connections the Hub accepts. Each gets its subprotocol's records.
func (h *Hub) Register(ctx context.Context, conn *websocket.Conn, g Grant) (*Subscriber, error) {
	sk := newConnSink(conn, wsFraming(conn.Subprotocol(), h.opts.Packing))
	s := newSubscriber(h.c, nil, conn.Subprotocol(), sk, &h.hooks, g)
	s.kaEvery = h.opts.PingInterval
	if err := h.c.add(ctx, s, g.Topics); err != nil {
		sk.cancel()
		var ref *Refusal
		if errors.As(err, &ref) {
			err = ref.Err
		}
		return nil, err
	}
	hooked := make(chan struct{})
	// The application's connection lives as long as ctx.
	stop := context.AfterFunc(ctx, func() { s.fail(endClient, context.Cause(ctx)) })
	s.writeOnDemand(ctx, func(why endReason, err error) {
		stop()
		<-hooked
		h.disconnected(s, why, err)
	})
	defer close(hooked)
	h.connected(s)
	return s, nil
}

func (h *Hub) closing() bool { return h.c.isClosing() }
