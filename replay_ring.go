package fanout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
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
// of the message (its ID included); Since is O(messages since lastID).
//
// Its IDs look like "k2f9w-42": a prefix drawn at random when the Ring is
// made, and a sequence number. A client holding an ID from before a server
// restart therefore resyncs rather than resuming against another history.
// Clients must treat IDs as opaque.
type Ring struct {
	maxAge time.Duration
	epoch  string // ID prefix, "-" included

	mu      sync.RWMutex
	entries []ringEntry // entries[seq % len(entries)]
	next    uint64      // sequence number of the next Append; the first is 1
}

type ringEntry struct {
	seq   uint64
	topic string
	at    int64 // UnixNano of the Append, when maxAge is set
	m     *Message
}

// ringMessage is a stored message and its ID's bytes in one allocation.
type ringMessage struct {
	Message
	idBuf [maxRingIDLen]byte
}

const maxRingIDLen = 14 + 1 + 20 // epoch, "-", uint64

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
		epoch:   strconv.FormatUint(rand.Uint64()>>(64-48), 36) + "-",
		entries: make([]ringEntry, o.Size),
		next:    1,
	}
}

// Append stores a copy of m, carrying the next ID, and returns it.
func (r *Ring) Append(_ context.Context, topic string, m *Message) (*Message, error) {
	rm := &ringMessage{Message: Message{data: m.data, typ: m.typ, event: m.event}}
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.next
	r.next++
	id := strconv.AppendUint(append(rm.idBuf[:0], r.epoch...), seq, 10)
	rm.id = unsafe.String(&id[0], len(id)) // idBuf lives, unchanged, as long as rm
	e := &r.entries[seq%uint64(len(r.entries))]
	*e = ringEntry{seq: seq, topic: topic, m: &rm.Message}
	if r.maxAge > 0 {
		e.at = time.Now().UnixNano()
	}
	return &rm.Message, nil
}

// Since returns the messages after lastID published to any of topics or
// broadcast. It fails with ErrUnknownID when lastID is not one of this
// Ring's IDs (another Ring's, one from before a restart, malformed, or not
// yet assigned), or when messages after it have been evicted.
func (r *Ring) Since(_ context.Context, lastID string, topics []string) ([]*Message, error) {
	seq, ok := r.parse(lastID)
	if !ok {
		return nil, fmt.Errorf("%w: not an ID of this store", ErrUnknownID)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	last := r.next - 1
	if seq > last {
		return nil, fmt.Errorf("%w: not assigned yet", ErrUnknownID)
	}
	size := uint64(len(r.entries))
	if last-seq > size {
		return nil, fmt.Errorf("%w: %d messages missed, more than the ring keeps", ErrUnknownID, last-seq)
	}
	if seq == last {
		return nil, nil
	}
	if r.maxAge > 0 {
		first := &r.entries[(seq+1)%size]
		if time.Duration(time.Now().UnixNano()-first.at) > r.maxAge {
			return nil, fmt.Errorf("%w: missed messages have expired", ErrUnknownID)
		}
	}
	out := make([]*Message, 0, last-seq) // at most this many: one allocation
	for s := seq + 1; s <= last; s++ {
		e := &r.entries[s%size]
		if e.topic == "" || slices.Contains(topics, e.topic) {
			out = append(out, e.m)
		}
	}
	return out, nil
}

// parse returns the sequence number of one of r's IDs.
func (r *Ring) parse(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, r.epoch)
	if !ok {
		return 0, false
	}
	if rest == "" || rest[0] == '0' { // "0" is never assigned; "01" is not how 1 is written
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil
}

// Len returns how many messages the ring holds (expired ones included).
func (r *Ring) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return int(min(r.next-1, uint64(len(r.entries))))
}
