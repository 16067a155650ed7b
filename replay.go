package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
// longer one is answered with a resync signal, without consulting the
// engine. It is a Cursor's ID, a position for each partition the client
// follows (see ParseCursor): 4096 bytes hold 16 partitions (the Redis
// engine's default on a Cluster) at the longest spelling (16 × 58 + 15 =
// 943 bytes) four times over, some 150 partitions of a Redis engine's
// usual IDs, and stay within the 8 KiB that common proxies accept for a
// header line or a URL.
const MaxLastEventIDLen = 4096

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

// positionMessage is the signal that tells a subscriber where its stream
// starts (or goes on from, after a resync): its ID is the Cursor of the
// partitions it follows, a position when it follows one.
func positionMessage(cur Cursor) *Message {
	m := &Message{id: cur.String(), ctl: ctlPosition}
	if len(cur) == 1 {
		m.pos = cur[0]
	}
	return m
}

// errNoHistory is why a client cannot resume from an engine that keeps no
// history.
var errNoHistory = fmt.Errorf("%w: no replay store", ErrUnknownID)

// ReadLimit bounds one page of history: what one PageReader.ReadPage
// returns. Its zero value bounds nothing.
type ReadLimit struct {
	// Messages is the most messages a page holds; 0: no bound.
	Messages int
	// Bytes bounds the data of a page's messages: the page ends with the
	// message that takes it to Bytes or more. 0: no bound.
	Bytes int
}

// Full reports whether a page of n messages holding bytes bytes of data
// is full: a read stops there.
func (l ReadLimit) Full(n, bytes int) bool {
	return l.Messages > 0 && n >= l.Messages || l.Bytes > 0 && bytes >= l.Bytes
}

// PageReader is implemented by an Engine, or a ReplayStore, that can read
// its history a page at a time. The Hub reads a resuming subscriber's
// history in pages, the next one once the subscriber's writer has taken
// the previous one, so that what a client that resumes from far back and
// then reads slowly, or not at all, holds in memory is one page, not its
// whole history. Over an engine (or a store) that does not implement it,
// each page is cut from a whole Read, which then costs the whole history
// for the time of the read. The in-process engine (which reads a Ring's
// pages itself), the bbolt store and the Redis engine implement it.
//
// Beware of embedding: a type that embeds a PageReader and changes its
// Read must change ReadPage too, or its Read is bypassed.
type PageReader interface {
	// ReadPage is Read, except that it stops once the page is full (see
	// ReadLimit.Full): upTo is then the position of the last message
	// returned, or a later one when no message on topics (or broadcast)
	// lies between them, and the next page is read from it. A page that
	// is not full ends at the head, as Read's result does.
	ReadPage(ctx context.Context, from Position, topics []string, limit ReadLimit) ([]*Message, Position, error)
}

// readPage reads a page with r's ReadPage, or cuts it from r's Read.
func readPage(ctx context.Context, r interface {
	Read(context.Context, Position, []string) ([]*Message, Position, error)
}, from Position, topics []string, limit ReadLimit) ([]*Message, Position, error) {
	if pr, ok := r.(PageReader); ok {
		return pr.ReadPage(ctx, from, topics, limit)
	}
	msgs, upTo, err := r.Read(ctx, from, topics)
	if err != nil {
		return nil, Position{}, err
	}
	bytes := 0
	for i, m := range msgs {
		bytes += len(m.data)
		if limit.Full(i+1, bytes) && i+1 < len(msgs) {
			// A copy, so that the rest can be collected.
			return slices.Clone(msgs[:i+1]), m.pos, nil
		}
	}
	return msgs, upTo, nil
}
