// Package records is the record format of fanout's packed and resume
// WebSocket subprotocols: a packed frame's payload is records back to
// back, each
//
//	kind (1 byte) | length (4 bytes, big endian) | payload
//
// (see docs/protocol.md for the kinds and their order). It encodes record
// headers and decodes whole payloads; it knows nothing of messages,
// topics or subscribers.
package records

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the size of a record header.
const HeaderLen = 5

// Record kinds.
const (
	KindText     = 1 // a text message; payload: the data
	KindBinary   = 2 // a binary message; payload: the data
	KindID       = 3 // the ID of the message that follows (resume only)
	KindResync   = 4 // a resync; payload: the reason; no message (resume only)
	KindPosition = 5 // a position; payload: an ID; no message (resume only)
	KindEvent    = 6 // the event type of the message that follows (v2 only)
	KindTopic    = 7 // the topic of the message that follows (v2 only)
)

// PutHeader writes the header of a record of kind with a payload of n
// bytes into h.
func PutHeader(h *[HeaderLen]byte, kind byte, n int) {
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(n))
}

// Record is one decoded record: a message (Data, with Binary and the ID,
// event type and topic that preceded it), a resync signal (Resync, Data
// the reason) or a position (Position, ID).
type Record struct {
	Binary   bool
	ID       string
	Event    string
	Topic    string
	Data     []byte // aliases the payload decoded
	Resync   bool
	Position bool
}

// Decoder reads the records of one packed payload, in order. Its zero
// value reads nothing.
type Decoder struct {
	frame []byte
	off   int
	bad   error
}

// NewDecoder returns a Decoder of frame whose errors wrap bad.
func NewDecoder(frame []byte, bad error) Decoder {
	return Decoder{frame: frame, bad: bad}
}

// Next returns the next message, resync or position, and true; false at
// the end of the payload. A payload that does not follow the format
// yields an error wrapping bad, at the first record that does not: a
// damaged one, an ID, event type or topic record that is empty, repeated,
// out of order (by increasing kind), or not followed by a message (before
// a resync or position, or at the end), an empty position, an unknown
// kind. The records before the damage are returned first.
func (d *Decoder) Next() (Record, bool, error) {
	var (
		r    Record // the next message's ID, event type and topic so far
		last byte   // the kind of the last of those read, 0 if none
	)
	frame := d.frame
	for d.off < len(frame) {
		off := d.off
		if len(frame)-off < HeaderLen {
			return Record{}, false, fmt.Errorf("%w: truncated record header at offset %d", d.bad, off)
		}
		kind := frame[off]
		n := binary.BigEndian.Uint32(frame[off+1:])
		if uint64(n) > uint64(len(frame)-off-HeaderLen) {
			return Record{}, false, fmt.Errorf("%w: record of %d bytes overruns frame at offset %d", d.bad, n, off)
		}
		end := off + HeaderLen + int(n)
		p := frame[off+HeaderLen : end : end]
		switch kind {
		case KindID, KindEvent, KindTopic:
			if kind <= last {
				return Record{}, false, fmt.Errorf("%w: %s record repeated or out of order at offset %d", d.bad, kindName(kind), off)
			}
			if n == 0 {
				return Record{}, false, fmt.Errorf("%w: empty %s record at offset %d", d.bad, kindName(kind), off)
			}
			switch kind {
			case KindID:
				r.ID = string(p)
			case KindEvent:
				r.Event = string(p)
			default:
				r.Topic = string(p)
			}
			last = kind
			d.off = end
			continue
		case KindText:
			r.Data = p
		case KindBinary:
			r.Binary, r.Data = true, p
		case KindResync, KindPosition:
			if last != 0 {
				return Record{}, false, fmt.Errorf("%w: %s record before a %s record at offset %d", d.bad, kindName(last), kindName(kind), off)
			}
			if kind == KindResync {
				r = Record{Resync: true, Data: p}
			} else if n == 0 {
				return Record{}, false, fmt.Errorf("%w: empty position record at offset %d", d.bad, off)
			} else {
				r = Record{ID: string(p), Position: true}
			}
		default:
			return Record{}, false, fmt.Errorf("%w: unknown record kind %d at offset %d", d.bad, kind, off)
		}
		d.off = end
		return r, true, nil
	}
	if last != 0 {
		return Record{}, false, fmt.Errorf("%w: %s record ends the frame", d.bad, kindName(last))
	}
	return Record{}, false, nil
}

// kindName names a record kind in Decoder's errors.
func kindName(kind byte) string {
	switch kind {
	case KindID:
		return "ID"
	case KindResync:
		return "resync"
	case KindPosition:
		return "position"
	case KindEvent:
		return "event type"
	default:
		return "topic"
	}
}
