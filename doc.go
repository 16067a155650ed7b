// Package fanout fans messages out to many WebSocket and Server-Sent Events
// subscribers, fast, without letting one slow client hurt the others.
//
// A [Hub] (WebSocket) and a [Broker] (SSE) are http.Handlers: mount them on
// the mux you already have, publish to topics, and every subscriber of a
// topic receives each message.
//
//	hub := fanout.NewHub(&fanout.HubOptions{Authorize: authorize})
//	defer hub.Shutdown(ctx)
//	mux.Handle("/ws", hub) // clients connect to /ws?topic=room-42
//
//	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub}) // the same topics, over SSE
//	mux.Handle("/events", broker) // new EventSource("/events?topic=room-42")
//
//	hub.Publish(ctx, "room-42", fanout.NewMessage(data))
//
// A [Message] is prepared once per publish and wire format (the WebSocket
// frame, the SSE event) and shared read-only by every subscriber's queue:
// sending to N subscribers allocates and copies nothing per subscriber.
//
// # Security
//
// Without [HubOptions.Authorize], any client may subscribe to any topic by
// naming it in ?topic=. Set Authorize unless every topic is public: it sees
// each request before anything is subscribed, and returns a [Grant] (the
// topics, an Identity of any type, a Group) or refuses with
// [ErrUnauthorized] (401), [ErrForbidden] (403) or a [Refusal] of any
// status. A Broker attached to a Hub uses the Hub's Authorize and hooks
// unless it sets its own. [Limits] bound the topics of one subscriber (100
// by default), the size of a published message (1 MiB: [ErrTooLarge]),
// and the subscribers in all and per group. The Hub accepts same-origin
// WebSocket handshakes only, unless AcceptOptions allows others; a client
// message is at most HubOptions.ReadLimit (32 KiB) and must be valid
// UTF-8, and so must every text message published. Every status
// ServeHTTP answers is listed in docs/authorization.md.
//
// # Lifecycle
//
// Connections are pinged every HubOptions.PingInterval (30s); a peer that
// has not answered one ping by the next is closed. [Hub.Shutdown] stops
// accepting (ServeHTTP answers 503), flushes every queue, closes
// connections with status 1001 (ends SSE responses) and waits for every
// goroutine the Hub started; [Hub.Close] does the same without flushing.
// Call it before http.Server.Shutdown, which does not track WebSockets and
// waits for SSE handlers. Both are idempotent; Publish afterwards returns
// [ErrClosed]. A Broker attached to a Hub shuts down with it.
//
// # Slow subscribers
//
// Each subscriber has a bounded queue ([DeliveryOptions.QueueSize], 4096
// messages; QueueBytes, 4 MiB), and publishing never blocks. When a message
// finds the queue full, or a batch write exceeds WriteTimeout (10s), the
// subscriber's [Policy] applies: [PolicyClose] (the default: close with
// status 1013, try again later), [PolicyDrop] (drop the message for that
// subscriber and count it) or [PolicyRemove] (unsubscribe, leave the
// connection open); OnSlow can choose per event. Nothing that happens to
// one subscriber delays another. [PolicyBlock] is the exception, for
// publishers that prefer backpressure to loss: Publish waits for room,
// within its context.
//
// # Replay
//
// With a [ReplayStore] (HubOptions.Replay: [NewRing] in memory, the bolt
// module in a file) or a distributed [Engine] (the redis module), every
// published message is stored and given an ID, its [Position]. A client
// that reconnects with the last ID it received (Last-Event-ID, which an
// EventSource sends by itself, or ?lastEventId= with [ResumeSubprotocolV2]
// on WebSocket) receives what it missed on its topics, then live messages:
// no gap, no duplicate, and no lock held across the store's I/O. The
// history is read a page at a time ([PageReader]), so a client that resumes
// from far back and does not read holds one page, not its whole replay.
// When what was missed cannot be told (an unknown or evicted ID, a lost
// history), it receives a resync signal instead ([ResyncEvent] on SSE, a
// resync [Record] on WebSocket; a plain WebSocket client is closed with
// [StatusResync]) and OnResync is called: a gap is never silent.
//
// # Coalescing
//
// Whatever queued for a subscriber while its writer was busy leaves in one
// socket write, as the ordinary frames one write per message would produce;
// a lone message on an idle writer goes out at once. Stats.Delivered /
// Stats.Writes ([Stats]) shows the gain. A writer runs only while its queue
// holds something, so an idle subscriber holds no goroutine (on Linux, over
// plain TCP or TLS with HTTP/1.1, or behind listeners whose connections have
// an Unwrap() net.Conn method: a wrapper's promise that its Read keeps no
// bytes of its own, see operations.md). Clients that opt in
// ([HubOptions.Packing], [PackedSubprotocolV2]) get each batch as one frame;
// [HubOptions.Compression] compresses each message once per publish.
//
// # Examples and guides
//
// Each use has a runnable example, listed beside its type: a Hub on a
// mux (ExampleHub), authorization (ExampleHubOptions_authorize), an SSE
// Broker beside a Hub (ExampleBrokerOptions_hub), replay (ExampleNewRing).
//
// The guides in the repository's docs/ directory say more: authorization.md
// (identity, limits, presence, HTTP statuses), sse.md, replay.md,
// many-nodes.md (the bolt store, the Redis engine), slow-clients.md,
// packed.md, compression.md, clients.md (the Go and JavaScript clients),
// metrics.md (Stats, [Observer], Prometheus), operations.md (every option,
// shutdown, UTF-8), design.md and protocol.md, the specification of what
// goes on the wire.
package fanout
