package fanout

import (
	"encoding/binary"
	"fmt"
)

// PackedSubprotocol is the WebSocket subprotocol through which a client opts
// in to packed frames. When HubOptions.Packing is set and a client offers
// this subprotocol, every batch the Hub writes to that client is ONE binary
// WebSocket frame holding all of the batch's messages as records:
//
//	record = kind (1 byte: 1 text, 2 binary) | length (4 bytes, big endian) | payload
//
// A packed frame holds one or more records, back to back, nothing else.
// Clients that do not offer the subprotocol always receive one ordinary
// frame per message, so packing never reaches a client that cannot read it.
// Subprotocol names (this one and ResumeSubprotocol) are matched ignoring
// letter case, as coder/websocket selects them; the handshake echoes the
// client's spelling, and the client gets the framing of the subprotocol it
// was given.
//
// Go clients split a frame with Unpack. In a browser, fanoutRecords, the
// JavaScript helper in the README (examples/chat/room/fanout.js), does:
//
//	const ws = new WebSocket(url, ["fanout.packed.v1"]);
//	ws.binaryType = "arraybuffer";
//	ws.onmessage = (e) => {
//	  if (ws.protocol !== "fanout.packed.v1") return handle(e.data); // not negotiated
//	  for (const r of fanoutRecords(e.data)) handle(r.data);
//	};
const PackedSubprotocol = "fanout.packed.v1"

// ResumeSubprotocol is the WebSocket subprotocol through which a client
// opts in to resuming, like SSE's Last-Event-ID. The Hub always offers it.
// A client that negotiated it receives every batch as one packed frame
// (see PackedSubprotocol, whether or not HubOptions.Packing is set), in
// which each message that has an ID (every published one, when the Hub has
// a ReplayStore) is preceded by an ID record:
//
//	record = kind (1 text, 2 binary, 3 ID of the next record, 4 resync, 5 position) | length (4 bytes, big endian) | payload
//
// When the Hub has a ReplayStore, a new connection (one that does not
// resume) first receives a position record: the ID of the last message
// published before it, with no message. A client that has received
// nothing else resumes from it, so that even its first disconnection
// leaves no gap.
// To resume, the client reconnects with the last ID it received in the
// lastEventId query parameter (or a Last-Event-ID header): it receives what
// it missed, then live messages, with no gap and no duplicate. When the
// Hub cannot tell what it missed (the ID is unknown or evicted), it
// receives a resync record (kind 4, payload: the reason) instead, then
// live messages, and should reload its state.
//
// Go clients read these frames with UnpackRecords; in a browser,
// fanoutRecords (see PackedSubprotocol) reads them too:
//
//	const ws = new WebSocket(url + "&lastEventId=" + encodeURIComponent(lastId), ["fanout.resume.v1"]);
//	// ... for each frame:
//	for (const r of fanoutRecords(e.data)) {
//	  if (r.position !== undefined) lastId = r.position;
//	  else if (r.resync !== undefined) reload(r.resync);
//	  else { handle(r.data); if (r.id) lastId = r.id; }
//	}
const ResumeSubprotocol = "fanout.resume.v1"

const (
	packedHeaderLen    = 5
	packedKindText     = 1
	packedKindBinary   = 2
	packedKindID       = 3
	packedKindResync   = 4
	packedKindPosition = 5
)

// Record is one message of a packed frame, as UnpackRecords reads it.
type Record struct {
	Type MessageType
	ID   string // the message's ID (ResumeSubprotocol), or ""
	Data []byte // aliases the frame

	// Resync reports a resync signal (ResumeSubprotocol): the Hub could not
	// tell what the client missed. Data holds the reason.
	Resync bool

	// Position reports a position record (ResumeSubprotocol): no message,
	// but the ID of the last one published before the connection, to
	// resume from if the connection drops before any message arrives.
	Position bool
}

func packedKind(t MessageType) byte {
	if t == Binary {
		return packedKindBinary
	}
	return packedKindText
}

// Unpack calls fn, in order, for each message in a packed frame (see
// PackedSubprotocol). The data passed to fn aliases frame. It stops at the
// first error fn returns and returns it; a frame that does not follow the
// framing yields an error wrapping ErrBadPacked, after fn has seen the
// records that precede the damage. Frames of ResumeSubprotocol need
// UnpackRecords: Unpack rejects their ID and resync records.
func Unpack(frame []byte, fn func(typ MessageType, data []byte) error) error {
	return UnpackRecords(frame, func(r Record) error {
		if r.ID != "" || r.Resync {
			return fmt.Errorf("%w: ID, resync or position record: use UnpackRecords", ErrBadPacked)
		}
		return fn(r.Type, r.Data)
	})
}

// UnpackRecords calls fn, in order, for each message (or resync signal) in
// a packed frame, of PackedSubprotocol or ResumeSubprotocol, with its ID
// when the frame carries one. It fails like Unpack on a malformed frame; an
// ID record must be followed by the message it belongs to.
func UnpackRecords(frame []byte, fn func(Record) error) error {
	var id string
	for off := 0; off < len(frame); {
		if len(frame)-off < packedHeaderLen {
			return fmt.Errorf("%w: truncated record header at offset %d", ErrBadPacked, off)
		}
		kind := frame[off]
		n := binary.BigEndian.Uint32(frame[off+1:])
		if uint64(n) > uint64(len(frame)-off-packedHeaderLen) {
			return fmt.Errorf("%w: record of %d bytes overruns frame at offset %d", ErrBadPacked, n, off)
		}
		p := frame[off+packedHeaderLen : off+packedHeaderLen+int(n) : off+packedHeaderLen+int(n)]
		r := Record{ID: id, Data: p}
		switch kind {
		case packedKindText:
		case packedKindBinary:
			r.Type = Binary
		case packedKindID:
			if id != "" {
				return fmt.Errorf("%w: two ID records in a row at offset %d", ErrBadPacked, off)
			}
			if n == 0 {
				return fmt.Errorf("%w: empty ID record at offset %d", ErrBadPacked, off)
			}
			id = string(p)
			off += packedHeaderLen + int(n)
			continue
		case packedKindResync:
			r.Resync = true
		case packedKindPosition:
			if id != "" || n == 0 {
				return fmt.Errorf("%w: bad position record at offset %d", ErrBadPacked, off)
			}
			r = Record{ID: string(p), Position: true}
		default:
			return fmt.Errorf("%w: unknown record kind %d at offset %d", ErrBadPacked, kind, off)
		}
		if err := fn(r); err != nil {
			return err
		}
		id = ""
		off += packedHeaderLen + int(n)
	}
	if id != "" {
		return fmt.Errorf("%w: ID record %q ends the frame", ErrBadPacked, id)
	}
	return nil
}
