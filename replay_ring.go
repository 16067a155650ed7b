package fanout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"
)

// RingOptions configures a Ring. The zero value is a good default.
type RingOptions struct {
	// Size is how many messages the ring keeps, across all topics; the
	// oldest is evicted when a new one arrives. Defaults to 1024.
	Size int

	// MaxAge, if positive, also evicts messages older than this: a client
	// that was away longer resyncs instead of receiving a stale backlog.
	// Defaults to 0 (no age limit).
	MaxAge time.Duration
}

// Ring is an in-memory ReplayStore: a fixed ring of the most recent
// messages of all topics. Append is O(1) and allocates only the stored copy
// of the message (its ID included); Read is O(messages since from).
//
// Its IDs look like "k2f9w-42": an epoch drawn at random when the Ring is
// made, and an offset. A client holding an ID from before a server restart
// therefore resyncs rather than resuming against another history. Clients
// must treat IDs as opaque.
type Ring struct {
	maxAge time.Duration
	epoch  string

	mu      sync.RWMutex
	entries []ringEntry // entries[offset % len(entries)]
	next    uint64      // offset of the next Append; the first is 1
}

type ringEntry struct {
	offset uint64
	topic  string
	at     int64 // UnixNano of the Append, when maxAge is set
	m      *Message
}

var _ ReplayStore = (*Ring)(nil)

// NewRing returns an empty Ring configured by opts (nil for defaults).
func NewRing(opts *RingOptions) *Ring {
	var o RingOptions
	if opts != nil {
		o = *opts
	}
	if o.Size <= 0 {
		o.Size = 1024
	}
	return &Ring{
		maxAge:  o.MaxAge,
		epoch:   strconv.FormatUint(rand.Uint64()>>(64-48), 36),
		entries: make([]ringEntry, o.Size),
		next:    1,
	}
}

// Append stores a copy of m, carrying the next position, and returns it.
func (r *Ring) Append(_ context.Context, topic string, m *Message) (*Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pos := Position{Epoch: r.epoch, Offset: r.next}
	sm := m.Stored(topic, pos)
	r.next++
	e := &r.entries[pos.Offset%uint64(len(r.entries))]
	*e = ringEntry{offset: pos.Offset, topic: topic, m: sm}
	if r.maxAge > 0 {
		e.at = time.Now().UnixNano()
	}
	return sm, nil
}

// Head returns the position of the last message appended.
func (r *Ring) Head(context.Context) (Position, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return Position{Epoch: r.epoch, Offset: r.next - 1}, nil
}

// Read returns the messages after from published to any of topics or
// broadcast, and the head. It fails with
// ErrUnknownID when from is not a position of this Ring (another Ring's,
// one from before a restart, or not yet assigned), or when messages after
// it have been evicted.
func (r *Ring) Read(_ context.Context, from Position, topics []string) ([]*Message, Position, error) {
	return r.readPage(from, topics, ReadLimit{})
}

// readPage is Read, stopping once the page is full (see PageReader). It
// is not exported as ReadPage: a store that embeds a Ring to change its
// Read (to count reads, or fail some) would then have its Read bypassed
// by the Ring's ReadPage. The in-process engine calls it on a *Ring.
func (r *Ring) readPage(from Position, topics []string, limit ReadLimit) ([]*Message, Position, error) {
	if from.Epoch != r.epoch || from.Partition != 0 {
		return nil, Position{}, fmt.Errorf("%w: not a position of this store", ErrUnknownID)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	last := r.next - 1
	head := Position{Epoch: r.epoch, Offset: last}
	if from.Offset > last {
		return nil, Position{}, fmt.Errorf("%w: not assigned yet", ErrUnknownID)
	}
	size := uint64(len(r.entries))
	if last-from.Offset > size {
		return nil, Position{}, fmt.Errorf("%w: %d messages missed, more than the ring keeps", ErrUnknownID, last-from.Offset)
	}
	if from.Offset == last {
		return nil, head, nil
	}
	if r.maxAge > 0 {
		first := &r.entries[(from.Offset+1)%size]
		if time.Duration(time.Now().UnixNano()-first.at) > r.maxAge {
			return nil, Position{}, fmt.Errorf("%w: missed messages have expired", ErrUnknownID)
		}
	}
	n := last - from.Offset // at most this many: one allocation
	if limit.Messages > 0 {
		n = min(n, uint64(limit.Messages))
	}
	out := make([]*Message, 0, n)
	bytes := 0
	for o := from.Offset + 1; o <= last; o++ {
		e := &r.entries[o%size]
		if e.topic == "" || slices.Contains(topics, e.topic) {
			out = append(out, e.m)
			bytes += len(e.m.data)
			if limit.Full(len(out), bytes) {
				return out, e.m.pos, nil
			}
		}
	}
	return out, head, nil
}

// Len returns how many messages the ring holds (expired ones included).
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return int(min(r.next-1, uint64(len(r.entries))))
}
