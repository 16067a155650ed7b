// Package fanout fans messages out to many WebSocket subscribers, fast,
// without letting one slow client hurt the others.
//
// A Hub is an http.Handler: mount it on the mux you already have, publish
// to topics, and every subscriber of a topic receives each message.
//
//	hub := fanout.NewHub(nil) // nil: defaults
//	mux.Handle("/ws", hub)    // clients connect to /ws?topic=room-42
//	hub.Publish(ctx, "room-42", fanout.NewMessage(data))
//	defer hub.Shutdown(ctx)
//
// # Encode once
//
// A Message is prepared once per publish (for WebSocket, the complete
// frame) and shared read-only by every subscriber's queue: broadcasting to
// N subscribers allocates nothing per subscriber. On plain TCP a batch's
// frames (packed or not) go to the kernel with one writev straight from
// the shared messages, so nothing is copied per subscriber either; over
// TLS, where encryption is per connection anyway, a batch is copied into
// one buffer per write.
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
// Clients that understand it can opt in to packing (HubOptions.Packing and
// the PackedSubprotocol subprotocol): each batch then arrives as ONE
// WebSocket frame, split with Unpack in Go or a few lines of JavaScript
// (see PackedSubprotocol). Clients that do not opt in never see a packed
// frame.
//
// # Slow subscribers
//
// Publishing never blocks. When a message finds a subscriber's queue full
// (DeliveryOptions.QueueSize messages or QueueBytes bytes), or a batch
// write exceeds WriteTimeout, the subscriber's Policy applies: PolicyClose
// (the default: close with status 1013, try again later), PolicyDrop (drop
// the message for that subscriber and count it), or PolicyRemove
// (unsubscribe, leave the connection open). An OnSlow hook can choose per
// subscriber. Nothing that happens to one subscriber delays another.
//
// # Lifecycle
//
// Connections are pinged every HubOptions.PingInterval; a peer that misses
// a ping is closed and freed. Shutdown(ctx) stops accepting (ServeHTTP
// answers 503), flushes every queue, closes connections with status 1001
// and waits for every goroutine the Hub started; Close does the same
// without flushing. Both are idempotent; Publish afterwards returns
// ErrClosed.
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
