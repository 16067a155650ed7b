package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ReplayStore keeps recently published messages so that a subscriber that
// reconnects with the ID of the last message it received (SSE's
// Last-Event-ID, or ResumeSubprotocol on WebSocket) gets exactly what it
// missed: no gap, no duplicate.
//
// The store assigns IDs. They are opaque strings to fanout and to clients,
// but a store must order them: each ID it assigns follows every ID it
// assigned before, across all of its topics, so a client subscribed to
// several topics resumes all of them from one ID. A Redis Stream ID is a
// fitting one.
//
// Concurrency contract: a Hub or Broker calls Append with its publishing
// serialized (one Append at a time per Hub or Broker), fanning the returned
// message out before the next Append; it calls Since while no Append of its
// own is in progress, and never while holding a lock an Append needs. The
// store must nevertheless be safe for concurrent use by several Hubs and
// Brokers, and by the application. A store must not modify a message after
// returning it.
type ReplayStore interface {
	// Append records m as published to topic ("" for a broadcast, which
	// every subscriber receives) and returns the message to deliver: a
	// copy of m carrying its newly assigned ID (see Message.WithID). An
	// error fails the Publish; nothing is delivered.
	Append(ctx context.Context, topic string, m *Message) (*Message, error)

	// Since returns, in order, the messages appended after the one whose ID
	// is lastID that were published to any of topics or broadcast, each
	// carrying its ID. It returns an error wrapping ErrUnknownID when
	// lastID was never assigned by this store or when messages after it
	// have been evicted, so that what was missed cannot be told: the
	// subscriber then gets a resync signal instead of a silent gap.
	Since(ctx context.Context, lastID string, topics []string) ([]*Message, error)
}

// MaxLastEventIDLen bounds the last-event ID a client may resume from. A
// longer one (no store assigns such IDs) is answered with a resync signal,
// without consulting the store.
const MaxLastEventIDLen = 512

// ResyncEvent is the SSE event type of the resync signal: a subscriber
// that asked to resume from an ID the store does not know (never assigned,
// evicted, or the server restarted with an in-memory store) receives one
// event of this type, whose data says why, instead of what it missed. The
// client should reload its state; the stream then goes on live. In a
// browser:
//
//	es.addEventListener("fanout.resync", (e) => reload(e.data));
//
// WebSocket clients that opted in to ResumeSubprotocol receive a resync
// record instead (see Record).
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

// replay returns what a subscriber of topics that last received lastID has
// missed, or the error that makes it resync.
func replay(ctx context.Context, store ReplayStore, lastID string, topics []string) ([]*Message, error) {
	switch {
	case store == nil:
		return nil, fmt.Errorf("%w: no replay store", ErrUnknownID)
	case len(lastID) > MaxLastEventIDLen:
		return nil, fmt.Errorf("%w: ID of %d bytes is too long", ErrUnknownID, len(lastID))
	case !validID(lastID):
		return nil, fmt.Errorf("%w: malformed ID", ErrUnknownID)
	}
	msgs, err := store.Since(ctx, lastID, topics)
	if err != nil {
		return nil, fmt.Errorf("replay from %q: %w", lastID, err)
	}
	return msgs, nil
}

// resyncMessage is the signal queued for a subscriber whose resume failed
// with err.
func resyncMessage(err error) *Message {
	reason := "unknown"
	if !errors.Is(err, ErrUnknownID) {
		reason = "unavailable" // the store failed: the client cannot tell what it missed either
	}
	return &Message{data: []byte(reason), ctl: ctlResync, event: ResyncEvent}
}

// subscribe registers s on topics (see core.add). When lastID is set, it
// also queues, ahead of everything published later, what s missed since
// lastID, or a resync signal when that cannot be told, and returns the
// error that made it resync.
//
// It holds pubMu throughout, as publish does around the store's Append and
// the fan-out: each message is therefore either in the replay or
// delivered live, never both and never neither. No buffering or
// deduplication is needed.
//
// A new subscriber (no lastID) of a core with a store instead gets the ID
// of the last message published before it (a position, for the client to
// resume from should it drop before its first message), when it has
// positions.
func (c *core) subscribe(ctx context.Context, s *Subscriber, topics []string, lastID string, positions bool) (resync, err error) {
	if lastID == "" && (c.store == nil || !positions) {
		return nil, c.add(s, topics)
	}
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if err := c.add(s, topics); err != nil {
		return nil, err
	}
	if lastID == "" {
		if c.lastID != "" {
			m := &Message{id: c.lastID, ctl: ctlPosition}
			_ = c.prepare(m)
			s.enqueueBacklog([]*Message{m})
		}
		return nil, nil
	}
	msgs, resync := replay(ctx, c.store, lastID, topics)
	if resync == nil {
		for _, m := range msgs {
			if err := c.prepare(m); err != nil { // the store returned what Publish refuses
				resync = fmt.Errorf("replayed message: %w", err)
				break
			}
		}
	}
	if resync != nil {
		m := resyncMessage(resync)
		_ = c.prepare(m)
		msgs = []*Message{m}
	}
	s.enqueueBacklog(msgs)
	return resync, nil
}
