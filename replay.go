package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ReplayStore keeps recently published messages for the in-process engine
// (HubOptions.Replay, NewLocalEngine), so that a subscriber that reconnects
// with the ID of the last message it received (SSE's Last-Event-ID, or
// ResumeSubprotocol on WebSocket) gets exactly what it missed: no gap, no
// duplicate. Ring is an in-memory one.
//
// The store keeps one log (partition 0) and assigns positions in it: each
// Append takes the next offset after every offset assigned before, across
// all topics, so a client subscribed to several topics resumes all of
// them from one ID. Offsets are dense: an Append that fails assigns none.
// The epoch names the log's current life: a store that loses its history
// (an in-memory one, at every start) must take a new epoch, so that a
// client holding an ID from before gets a resync signal.
//
// A store serves one in-process engine (one Hub, with the Brokers
// attached to it, or one standalone Broker) at a time: its log is that
// engine's alone. Given to another, it is handed over (see
// HubOptions.Replay).
//
// Concurrency contract: every method may be called concurrently, from any
// goroutine, by the engine and by the application; none is called while
// the engine holds a lock, so a store may do I/O (and should let
// concurrent Appends share it, as a batched write does). Appends may
// complete in any order: the engine delivers them in offset order. A store
// must not modify a message after returning it.
type ReplayStore interface {
	// Append records m as published to topic ("" for a broadcast) and
	// returns the copy to deliver, carrying its newly assigned position
	// (m.Stored(topic, pos)). An error fails the Publish; nothing is
	// delivered, and no offset is used up.
	Append(ctx context.Context, topic string, m *Message) (*Message, error)

	// Read returns, in order, the messages after from that were published
	// to any of topics or broadcast (broadcasts only, for no topics), and
	// the head it read up to (see Engine.Read). It fails with an error
	// wrapping ErrUnknownID when from is of another epoch or partition,
	// ahead of the head, or older than the messages kept, so that what was
	// missed cannot be told: the subscriber then gets a resync signal
	// instead of a silent gap.
	Read(ctx context.Context, from Position, topics []string) ([]*Message, Position, error)

	// Head returns the position of the last message stored (offset 0, with
	// the current epoch, when there is none).
	Head(ctx context.Context) (Position, error)
}

// MaxLastEventIDLen bounds the last-event ID a client may resume from. A
// longer one (no engine assigns such IDs) is answered with a resync
// signal, without consulting the engine.
const MaxLastEventIDLen = 512

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

// lastEventID returns the ID a request asks to resume from: the
// Last-Event-ID header (sent by EventSource on reconnection), or else the
// lastEventId query parameter, for clients that cannot set headers (a
// browser's WebSocket, EventSource polyfills).
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

// resyncMessage is the signal queued for a subscriber whose resume failed
// with err.
func resyncMessage(err error) *Message { return resyncSignal(resumeResync(err)) }

// resumeResync is why a resume that failed with err resyncs.
func resumeResync(err error) ResyncReason {
	if errors.Is(err, ErrUnknownID) {
		return ResyncUnknown
	}
	return ResyncUnavailable // the store failed: the client cannot tell what it missed either
}

// resyncSignal is the resync signal for reason: its data is the reason's
// name, the word the Observer (and so the metrics) uses for the same
// event.
func resyncSignal(reason ResyncReason) *Message {
	return &Message{data: []byte(reason.String()), ctl: ctlResync, event: ResyncEvent}
}

// positionMessage is the signal that tells a new subscriber where its
// stream starts.
func positionMessage(pos Position) *Message {
	return &Message{id: pos.ID(), pos: pos, ctl: ctlPosition}
}

// errNoHistory is why a client cannot resume from an engine that keeps no
// history.
var errNoHistory = fmt.Errorf("%w: no replay store", ErrUnknownID)
