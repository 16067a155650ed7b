// Package client receives messages from a fanout Hub (WebSocket) or
// Broker (Server-Sent Events), and reconnects and resumes by itself, so
// that the application sees one stream: every message once, in order,
// and a resync signal where what was missed cannot be told.
//
//	c, err := client.New("wss://example.com/ws?topic=prices", nil) // or https://example.com/events?topic=prices
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	for {
//		m, err := c.Next(ctx)
//		if err != nil {
//			return err // ctx ended, or the server said to stop: see Next
//		}
//		if m.Resync {
//			reload() // what was missed cannot be told
//			continue
//		}
//		handle(m.Event, m.Topic, m.Data)
//		save(c.LastEventID()) // to resume from after a restart (Options.LastEventID)
//	}
//
// # Transports
//
// The URL's scheme chooses: ws or wss for a Hub, http or https for a
// Broker. Over WebSocket, Options.Mode chooses the framing: ModeResume
// (the default) offers fanout.resume.v2, then v1, so each message comes
// with its ID, event type and topic, and the client resumes exactly;
// ModePacked and ModePlain carry no IDs, so they cannot resume. Over SSE,
// the client reads the stream as an EventSource does (an event without a
// data field is not dispatched); each message carries its event's own ID
// and event type, but not its topic, and a binary message arrives as
// base64 text. docs/protocol.md specifies what goes on the wire.
// Options.URLs adds more URLs of the same stream, tried in turn: other
// nodes sharing an engine, or the other transport of a Broker attached to
// the Hub (they share IDs).
//
// # Resume and resync
//
// The client keeps the ID of the last message Next returned (or the
// position a new stream starts with) and reconnects with it: in the
// lastEventId query parameter (WebSocket) or the Last-Event-ID header
// (SSE). A server whose engine orders topics in several partitions (the
// Redis engine) numbers each partition on its own: over WebSocket, the
// client keeps the last position of each partition of its topics and
// resumes from their composite (docs/protocol.md § 5), which is what
// LastEventID returns; over SSE, the Broker writes that composite in
// every event's ID. The server then sends what the client missed, then live
// messages: nothing is missing and nothing comes twice. When the server
// cannot tell what was missed (the ID was evicted, or the server restarted
// with an in-memory store), it sends a resync instead, and Next returns a
// Message with Resync set and the reason in Data (ResyncUnknown,
// ResyncUnavailable, or ResyncLost when the server's engine lost messages
// of a live stream). The client sends one of its own (ResyncUnresumable)
// when it reconnects with no way to resume: in ModePacked and ModePlain,
// or from a server without a store, which gives no IDs; in ModePlain it
// carries the server's reason instead when the server closed the
// connection with fanout.StatusResync. So a gap is never
// silent. The first connection has nothing to resync, unless
// Options.LastEventID names a message it cannot resume from. A resync
// gives no new position: until the next message arrives, a reconnection
// resumes from the same ID, and gets another resync.
//
// # Reconnecting
//
// After a connection ends or an attempt fails, the client waits, then
// tries again with the next URL: MinBackoff (100ms) the first time,
// doubling up to MaxBackoff (30s) while attempts fail, each wait drawn at
// random from the upper half of its step. A connection resets it once it
// has delivered a message or lasted 10 seconds; one that ends sooner
// with nothing delivered counts as a failed attempt. So a server that
// accepts each client and drops it at once sees it no more often than one
// that refuses it: on defaults, at most 10 attempts in the first 30
// seconds, then one every 15 to 30 seconds (fewer than 70 a second from
// 1,000 such clients, not thousands). A Retry-After header (on 429 or
// 503) is honoured: the wait is at least what it asks. OnRetry reports
// each wait and why. (An SSE stream's retry field is not read: the
// backoff decides.)
//
// A connection on which the server has said nothing for IdleTimeout
// (45s: a Hub pings every 30s, a Broker's heartbeat comes at least as
// often) is given up with ErrIdle, and the client reconnects and resumes:
// a dead peer or path, which sends neither FIN nor RST, is found that way.
//
// The client tries again after:
//   - a network error, a handshake that timed out (HandshakeTimeout), the
//     end of an SSE stream (the server ending it without a fanout.close
//     event: Subscriber.Close, Shutdown, a restart or a cut look alike),
//     a server silent for IdleTimeout (ErrIdle);
//   - HTTP 408, 429, and 5xx but 501 and 505;
//   - a close status that does not say "stop", on a WebSocket close frame
//     or in an SSE fanout.close event: 1000 (Subscriber.Close: an
//     EventSource reconnects after it too), 1001 going away (Shutdown),
//     1005, 1011 internal error, 1012 service restart, 1013 try again
//     later (a slow consumer), 1014 bad gateway.
//
// It stops, and Next returns the error after every message received
// before it, on:
//   - any other HTTP status, as a *StatusError: 401, 403, 404, 400, and
//     204 (what tells an EventSource to stop), ...;
//   - any other close status, as an error wrapping a websocket.CloseError:
//     1008 policy violation, 4000 to 4999 (the application's, from
//     Subscriber.CloseWith), ...;
//   - ErrProtocol (the server speaks something else) and ErrTooLarge (a
//     message over ReadLimit), which would recur.
//
// So that both transports stop, a server closes a client with
// Subscriber.CloseWith and a status of 4000 to 4999, or 1008.
//
// # Lifecycle
//
// New starts one goroutine, which connects, reads, and hands each message
// to Next. It reads only as fast as the application calls Next: an
// application that stops calling it stops the client reading, and the
// server may close the client as slow; it resumes once Next is called
// again. Close ends the goroutine and the connection and waits for both:
// it closes a WebSocket with a close frame (1000) and waits up to a
// second for the server's answer, so that the server sees the client
// leave rather than its connection break.
//
// See the examples for a client of a Hub and of a Broker, and for a
// resync.
package client
