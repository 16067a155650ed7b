// Package fanout fans messages out to many WebSocket and Server-Sent Events
// subscribers, fast, without letting one slow client hurt the others.
//
// A Hub (WebSocket) and a Broker (SSE) are http.Handlers: mount them on the
// mux you already have, publish to topics, and every subscriber of a topic
// receives each message.
//
//	hub := fanout.NewHub(nil) // nil: defaults
//	mux.Handle("/ws", hub)    // clients connect to /ws?topic=room-42
//	hub.Publish(ctx, "room-42", fanout.NewMessage(data))
//	defer hub.Shutdown(ctx)
//
//	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub}) // the same topics, over SSE
//	mux.Handle("/events", broker) // new EventSource("/events?topic=room-42")
//
// Without an Authorize hook, as here, any client may subscribe to any
// topic by naming it in ?topic=: set HubOptions.Authorize unless every
// topic is public. A Broker attached to a Hub uses the Hub's Authorize and
// hooks unless it sets its own.
//
// # Authorization and identity
//
// HubOptions.Authorize (and BrokerOptions.Authorize) sees each request
// before anything is subscribed, and returns a Grant: the topics its
// subscriber joins, the application's Identity for it (a user, verified
// claims: any type), and a Group (who it belongs to, for limits and
// presence). Every hook, filter and Send path reads them back from the
// Subscriber (Identity, IdentityOf, Group). To refuse, Authorize returns
// ErrUnauthorized (401), ErrForbidden (403), or a Refusal with any status,
// headers and body: 429 with Retry-After, or 204, which tells an
// EventSource not to reconnect. Limits bound the subscribers in all (503)
// and per group (429), and the topics of each (400; 100 by default),
// before the upgrade, and the size of a message: Publish and Send refuse
// one over Limits.MaxMessageSize (1 MiB unless set) with ErrTooLarge,
// before any engine stores it.
//
// # Client messages
//
// A WebSocket client may send messages: HubOptions.OnMessage receives
// each one on that connection's reader goroutine, in order, as a Message
// that can be published as it is. Text that is not UTF-8 closes the client
// with 1007; a message over ReadLimit with 1009; Limits.MessageRate bounds
// how many a client may send per second (over it: dropped and counted, or
// closed with 1008). Without OnMessage, client messages are read and
// discarded. A panic in OnMessage is recovered, logged, and closes only
// that client (1011).
//
// # Presence
//
// OnJoin and OnLeave follow each subscriber through its topics: its first
// ones once it is connected, Subscriber.Subscribe and Unsubscribe, and the
// topics it still has when it ends. Topics and TopicSubscribers describe
// this process; Presence lists a topic's members on every process sharing
// the engine, when the engine knows them (PresenceEngine). None of this
// costs the publish path anything. Subscriber.CloseWith ends one
// subscriber with a close status and reason of the application's choosing.
//
// # Encode once
//
// A Message is prepared once per publish and per wire format (for
// WebSocket, the complete frame; for SSE, the complete event, encoded with
// go-sse) and shared read-only by every subscriber's queue: broadcasting to
// N subscribers allocates nothing per subscriber. On plain TCP a batch's
// frames (packed or not) go to the kernel with one writev straight from
// the shared messages, so nothing is copied per subscriber either; over
// TLS, where encryption is per connection anyway, a batch is copied into
// one buffer per write.
//
// # Compression
//
// With HubOptions.Compression, clients that offer permessage-deflate
// (RFC 7692) get messages of CompressionThreshold bytes (512) and more
// compressed. The extension is negotiated without context takeover, so a
// message is compressed on its own, once per publish like its plain frame,
// and that compressed frame is shared by every subscriber that negotiated
// it: compression costs one compress/flate pass per message, not one per
// subscriber, and fewer bytes to write often make a fan-out cheaper than
// without it. The packed frames of the packed and resume subprotocols
// carry a batch of the subscriber's own, yet they are compressed once per
// publish too: each message's records are compressed on their own and a
// batch's frame is these pieces in order. Messages that deflate does not
// shrink are sent uncompressed. Off by default; see HubOptions.Compression
// for the trade-off.
//
// # Coalescing
//
// Each subscriber has a bounded queue and one writer. Whatever queued up
// while the writer was busy (or before it was scheduled) leaves in ONE
// write to the socket, as ordinary frames: the bytes on the wire are those
// that one write per message would produce, so every WebSocket client reads
// them unchanged. A lone message on an idle writer goes out at once; no
// timer is involved unless DeliveryOptions.FlushDelay asks for one.
// Stats.Delivered/Stats.Writes shows the gain.
//
// A writer runs only while its queue holds something, and on Linux one
// epoll poller per Hub watches idle connections for client input, so an
// idle subscriber holds no goroutine: about 8 KiB of the process's memory
// for a WebSocket client and 5 KiB for an SSE stream, and less with
// HubOptions.ForgetRequest (BrokerOptions.ForgetRequest).
//
// Clients that understand it can opt in to packing (HubOptions.Packing and
// the PackedSubprotocol subprotocol): each batch then arrives as ONE
// WebSocket frame, split with Unpack in Go or, in a browser, with the
// JavaScript client in js/ (see PackedSubprotocol). Clients that do not
// opt in never see a packed frame. The v2 subprotocols
// (ResumeSubprotocolV2, PackedSubprotocolV2) add each message's event type
// and topic as records before it, so that one Publish tells a WebSocket
// client what it tells an EventSource; a client offering v2 with v1 as a
// fallback gets v2, and one offering v1 alone gets the v1 frames unchanged.
//
// # Slow subscribers
//
// Publishing never blocks (unless PolicyBlock asks it to). When a message
// finds a subscriber's queue full (DeliveryOptions.QueueSize messages or
// QueueBytes bytes), or a batch write exceeds WriteTimeout, the
// subscriber's Policy applies: PolicyClose (the default: close with status
// 1013, try again later), PolicyDrop (drop the message for that subscriber
// and count it), or PolicyRemove (unsubscribe, leave the connection open).
// An OnSlow hook can choose per subscriber. Nothing that happens to one
// subscriber delays another. PolicyBlock is the exception, for publishers
// that prefer backpressure to loss: Publish waits for room, within its
// context, so a subscriber that stops reading slows the publishers of its
// topics.
//
// The bounds are what a burst may reach: a burst published back to back
// queues whole before the subscriber's writer is scheduled, so a client
// that reads as fast as it can survives any burst that fits (4096 messages
// or 4 MiB by default), while one that does not read is found slow once
// its queue is full on top of what the kernel's socket buffers took, or
// once a write has been blocked for WriteTimeout. A message larger than
// QueueBytes is not counted against it (one such message may wait at a
// time), so one big message never gets a reading subscriber closed.
//
// A connection ended because its peer does not read (a write that failed
// or timed out, a dead peer, a close handshake left unanswered with data
// still unacknowledged, Close or Shutdown cutting it) is aborted with a
// TCP reset rather than closed normally, so that the kernel frees it and
// its unsent data at once instead of keeping them for as long as the peer
// keeps the connection open. A peer that reads gets the orderly close.
//
// # UTF-8
//
// A Text message must be valid UTF-8, and so must IDs and event types:
// Publish, Broadcast and Send refuse others with ErrInvalidMessage, so the
// library never writes a text frame that a WebSocket client must fail its
// connection for (RFC 6455, section 8.1), nor an event stream that is not
// UTF-8. The check runs once per Message, not per subscriber. Send
// arbitrary bytes as Binary. A client whose text message is not valid
// UTF-8 is closed with status 1007; its message never reaches OnMessage.
//
// # Server-Sent Events
//
// A Broker streams text/event-stream responses. It shares the Hub's
// queues, writer and policies: the events queued for a subscriber leave
// together. Over HTTP/1 it takes each connection over, as the Hub does
// (one writev per batch, and ServeHTTP returns, so an idle subscriber costs
// a few KiB); elsewhere (HTTP/2) a batch is written, then flushed once.
// Middleware does not see a stream taken over (a logger records no status,
// a compressor is bypassed): BrokerOptions.ThroughResponseWriter streams
// through the ResponseWriter over HTTP/1 too, so that logging, tracing and
// compression middleware see the stream as any other response, for about
// three times the memory per idle subscriber.
// Headers are flushed as soon as the client is subscribed, so its request
// returns before the first event. A client that sends more than 4 KiB
// after its request has its stream (taken over) closed: an EventSource sends nothing,
// and the Broker does not read a body for ever. An idle
// stream gets a comment line every BrokerOptions.Heartbeat. A Binary
// message is sent base64-encoded; text arrives as sent, except that SSE
// turns CR and CRLF line breaks into LF. Subscriber.Close (or PolicyClose)
// ends the response; EventSource then reconnects by itself.
//
// # Replay and resume
//
// With a ReplayStore (HubOptions.Replay, BrokerOptions.Replay; NewRing is
// an in-memory one), each published message is stored and given a
// Position: the store's epoch and a dense offset, ordered across all
// topics, written as its ID. A client that reconnects with the last ID it
// received (EventSource sends Last-Event-ID by itself; a WebSocket client
// opts in with ResumeSubprotocol and passes ?lastEventId=) first receives
// what it missed on its topics, then live messages: no gap and no
// duplicate. This holds while publishers run, and without a lock across
// the store's I/O: the subscriber is registered first, the history is read
// after, and the two are joined by position, dropping the live messages
// the history holds. The history is read a page at a time (four batches:
// see DeliveryOptions.MaxBatch), the next once the subscriber's writer has
// taken the previous one, so a client that resumes from far back and then
// reads slowly, or not at all, holds a page of it, not the whole (see
// PageReader). When what was missed cannot be told (the ID is
// unknown or evicted, or the server restarted with an in-memory store),
// the client receives a resync signal (the SSE event ResyncEvent, or a
// resync Record; a plain WebSocket client is closed with StatusResync)
// and OnResync is called: a gap is never silent. A new
// subscriber first gets its position, the store's head (a PositionEvent on
// SSE, whose id browsers record without dispatching it to onmessage, or a
// position Record), so that even a client that drops before its first
// message resumes exactly.
//
// # Engines
//
// Where messages are ordered, stored and distributed is an Engine: by
// default the in-process one over the ReplayStore, NewLocalEngine; for
// several processes, the Redis engine (github.com/fanout-go/fanout/redis)
// in HubOptions.Engine. Its Feed checks every stored message's position:
// it drops one already delivered, fills a skipped one from the engine's
// history, and resyncs the subscribers concerned when it cannot. Package
// enginetest is the conformance suite every engine and store passes.
//
// # One topic, both transports
//
// A Broker made with BrokerOptions.Hub serves the Hub's topics: one
// Publish reaches WebSocket and SSE subscribers alike, is prepared once per
// wire format, and is stored once, with one ID that both kinds of client
// can resume from.
//
// # Metrics
//
// Stats is a snapshot of a Hub's (or Broker's) counters. For more, an
// Observer in DeliveryOptions.Observer is told of each batch write (its
// messages, bytes, duration, and the queue left behind it), each
// slow-subscriber event with the policy applied, and each resync, with
// why; an Engine that measures itself (a MeasuredEngine: the Redis
// engine's feed lag and recoveries) reports through Hub.EngineMetrics.
// Without an Observer nothing is measured for one: publishing never looks
// at it, and a writer checks it once per batch. The module
// github.com/fanout-go/fanout/prometheus exports all of it to Prometheus.
//
// # Lifecycle
//
// Connections are pinged every HubOptions.PingInterval; a peer that has
// not answered a ping when the next one is due is closed and freed, one to
// two intervals after its last answer. Shutdown(ctx) stops accepting
// (ServeHTTP answers 503), flushes every queue, closes connections with
// status 1001 (ends SSE responses) and waits for every goroutine the Hub or
// Broker started; Close does the same without flushing. Call it before
// http.Server.Shutdown, which waits for SSE handlers to return. Both are
// idempotent; Publish afterwards returns ErrClosed.
//
// # HTTP statuses
//
// Hub.ServeHTTP and Broker.ServeHTTP answer a request they do not serve
// with one of these statuses, checked in this order, before anything is
// asked of the engine (a refused request reads no history), and subscribe
// nothing:
//
//   - 501 Not Implemented (Hub): the connection cannot be taken over: a
//     ResponseWriter wrapper (middleware) has neither Hijack nor Unwrap, or
//     the request came over HTTP/2. The body says why, and so does a Warn
//     log (through slog's default logger when DeliveryOptions.Logger is
//     nil).
//   - 405 Method Not Allowed (Broker, with Allow: GET): not a GET.
//   - 500 Internal Server Error (Broker): the response can be neither
//     flushed nor taken over (with BrokerOptions.ThroughResponseWriter:
//     it cannot be flushed). The body says why, logged as for 501.
//   - 503 Service Unavailable (both, with Retry-After: 5): Shutdown or
//     Close has begun.
//   - For the Hub, what websocket.Accept answers to a bad handshake: 426
//     Upgrade Required (not an upgrade to WebSocket, or HTTP/1.0), 405
//     (not a GET), 400 (a bad Sec-WebSocket-Version or Sec-WebSocket-Key),
//     403 (a cross-origin request that AcceptOptions does not allow).
//     The Hub runs these checks itself, as coder/websocket does, before
//     subscribing; Accept answers.
//   - 400 Bad Request (both): the query cannot be parsed (a malformed
//     escape, more than the 10,000 parameters net/url parses), with or
//     without Authorize.
//   - What a Refusal says (both): its status, headers and body, when
//     Authorize returned one (or an error wrapping one).
//   - 401 Unauthorized, 403 Forbidden, 400 Bad Request, 500 Internal
//     Server Error (both): Authorize returned an error wrapping
//     ErrUnauthorized, ErrForbidden, ErrInvalidTopic, or another one; 400
//     also for an empty topic name, from the query or from Authorize.
//   - 400 Bad Request (both): more than Limits.MaxTopics distinct topics
//     (100 by default).
//   - 503 Service Unavailable (both, with Retry-After): one more
//     subscriber would exceed Limits.MaxSubscribers; 429 Too Many Requests
//     (with Retry-After): Limits.MaxPerGroup for its Grant.Group.
//
// Otherwise the Hub answers 101 Switching Protocols and the Broker 200 OK
// with a text/event-stream. (net/http itself refuses malformed requests
// before either sees them, for example 431 for oversized headers.)
//
// # Ordering
//
// Each subscriber receives messages in publish order, and all subscribers
// observe concurrent publishes in the same order. A subscriber is
// registered before its handshake response is sent, so a client whose
// handshake has completed receives every message published after it. A
// Publish that returned nil before Shutdown is delivered to every
// subscriber it was queued for.
package fanout
