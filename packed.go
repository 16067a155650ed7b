package fanout

import (
	"fmt"
	"strings"

	"github.com/fanout-go/fanout/internal/records"
	"github.com/fanout-go/fanout/internal/wsframe"
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
// Subprotocol names (this one, ResumeSubprotocol and their v2 versions) are
// matched ignoring letter case, as coder/websocket selects them; the
// handshake echoes the client's spelling, and the client gets the framing
// of the subprotocol it was given. PackedSubprotocolV2 adds each message's
// event type and topic.
//
// Go clients split a frame with Unpack. In a browser, fanoutRecords, from
// the JavaScript client (js/fanout.js, the npm package @fanout-go/client,
// whose subscribe does all of this), does:
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
// ResumeSubprotocolV2 is the same with each message's event type and
// topic. Go clients read these frames with UnpackRecords; in a browser,
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

// ResumeSubprotocolV2 and PackedSubprotocolV2 are ResumeSubprotocol and
// PackedSubprotocol with two more records, so that a WebSocket client
// learns what an EventSource learns from the same Publish: before a
// message, an event type record (kind 6) carries its event type (see
// Message.WithEvent), and a topic record (kind 7) the topic it was
// published to. Every record:
//
//	kind 1  text message      payload: the data
//	kind 2  binary message    payload: the data
//	kind 3  ID                of the message that follows (resume only)
//	kind 4  resync            payload: the reason; no message (resume only)
//	kind 5  position          payload: an ID; no message (resume only)
//	kind 6  event type        of the message that follows (v2 only)
//	kind 7  topic             of the message that follows (v2 only)
//
// A message's ID, event type and topic records come right before it, in
// that order (by increasing kind), each at most once, none empty. Each is
// sent when the message has one: the event type when it was set with
// WithEvent, the topic for every message published to a topic (Publish),
// stored or not, and replayed ones. A broadcast (topic ""), a message sent
// with BroadcastFilter or Subscriber.Send, a resync and a position carry no
// topic record. The records are the same for every subscriber of a
// subprotocol (prepared once per Message), so a client subscribed to one
// topic gets it too. Topic names are sent as they are: one that Authorize
// chose is visible to the v2 clients that receive its messages.
//
// The Hub offers, first to last: ResumeSubprotocolV2, ResumeSubprotocol,
// AcceptOptions.Subprotocols, then, with Packing, PackedSubprotocolV2 and
// PackedSubprotocol; coder/websocket selects the first of these the client
// offers. So a client that offers a v2 subprotocol and its v1 as a
// fallback gets v2 from this Hub and v1 from an older one, and a client
// of today, offering v1 alone, gets exactly the v1 frames. A client reads
// by the subprotocol it was given (ws.protocol, conn.Subprotocol()).
// UnpackRecords and fanoutRecords read both versions.
//
//	const ws = new WebSocket(url, ["fanout.resume.v2", "fanout.resume.v1"]);
//	// ... for each frame:
//	for (const r of fanoutRecords(e.data)) {
//	  if (r.data !== undefined) handle(r.event, r.topic, r.data); // "" when it has none
//	}
const (
	ResumeSubprotocolV2 = "fanout.resume.v2"
	PackedSubprotocolV2 = "fanout.packed.v2"
)

// Record is one record of a packed frame, as UnpackRecords reads it: a
// message with what preceded it (its ID, event type and topic), a resync
// signal or a position.
type Record struct {
	Type  MessageType
	ID    string // the message's ID (resume subprotocols), or ""
	Event string // its event type (v2 subprotocols), or ""
	Topic string // the topic it was published to (v2 subprotocols), or "": see ResumeSubprotocolV2
	Data  []byte // aliases the frame

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
		return records.KindBinary
	}
	return records.KindText
}

// Unpack calls fn, in order, for each message in a packed frame of
// PackedSubprotocol (v1). The data passed to fn aliases frame. It stops at
// the first error fn returns and returns it; a frame that does not follow
// the framing yields an error wrapping ErrBadPacked, after fn has seen the
// records that precede the damage. Unpack reads text and binary records
// only: it rejects the ID, resync and position records of
// ResumeSubprotocol and the event type and topic records of the v2
// subprotocols, rather than drop what they say. UnpackRecords reads those.
func Unpack(frame []byte, fn func(typ MessageType, data []byte) error) error {
	return UnpackRecords(frame, func(r Record) error {
		if r.ID != "" || r.Event != "" || r.Topic != "" || r.Resync || r.Position {
			return fmt.Errorf("%w: ID, event type, topic, resync or position record: use UnpackRecords", ErrBadPacked)
		}
		return fn(r.Type, r.Data)
	})
}

// UnpackRecords calls fn, in order, for each message, resync signal or
// position in a packed frame of any of the subprotocols (PackedSubprotocol,
// ResumeSubprotocol and their v2), with the message's ID, event type and
// topic when the frame carries them. It fails like Unpack on a malformed
// frame; besides a damaged record, that is an ID, event type or topic
// record that is empty, repeated, out of order (see ResumeSubprotocolV2),
// not followed by a message (before a resync or position record, or at the
// end of the frame), and a position record that is empty.
func UnpackRecords(frame []byte, fn func(Record) error) error {
	d := records.NewDecoder(frame, ErrBadPacked)
	for {
		r, ok, err := d.Next()
		if !ok {
			return err
		}
		typ := Text
		if r.Binary {
			typ = Binary
		}
		if err := fn(Record{Type: typ, ID: r.ID, Event: r.Event, Topic: r.Topic, Data: r.Data,
			Resync: r.Resync, Position: r.Position}); err != nil {
			return err
		}
	}
}

// framing is how a WebSocket subscriber's batches are written, as its
// subprotocol says: plain (zero: one ordinary frame per message) or one
// packed frame per batch, with or without ID records and event type and
// topic records.
type framing uint8

const (
	framePacked framing = 1 << iota // one packed frame per batch
	frameIDs                        // ID records (the resume subprotocols)
	frameMeta                       // event type and topic records (v2)
)

// wsFraming returns the framing of a connection that negotiated subprotocol
// proto (matched ignoring case, as coder/websocket selects it); packed
// frames only with packing (HubOptions.Packing).
func wsFraming(proto string, packing bool) framing {
	switch {
	case strings.EqualFold(proto, ResumeSubprotocolV2):
		return framePacked | frameIDs | frameMeta
	case strings.EqualFold(proto, ResumeSubprotocol):
		return framePacked | frameIDs
	case packing && strings.EqualFold(proto, PackedSubprotocolV2):
		return framePacked | frameMeta
	case packing && strings.EqualFold(proto, PackedSubprotocol):
		return framePacked
	}
	return 0
}

// maxRecordParts is the most parts appendRecordParts appends for one
// message: ID, event type and topic records, then the message's own, each
// a header and a payload.
const maxRecordParts = 8

// appendRecordParts appends the parts of m's records in the packed framing
// f (with its ID record when f has frameIDs, its event type and topic
// records when it has frameMeta), all shared with other subscribers. A
// resync or a position has none of those.
func appendRecordParts(parts [][]byte, m *Message, f framing) [][]byte {
	h := m.recordHeaders()
	switch m.ctl {
	case ctlPosition: // one record: its payload is the ID
		return append(parts, h.msg[:], stringBytes(m.id))
	case ctlNone:
		if f&frameIDs != 0 && m.id != "" {
			parts = append(parts, h.id[:], stringBytes(m.id))
		}
		if f&frameMeta != 0 && m.event != "" {
			parts = append(parts, h.event[:], stringBytes(m.event))
		}
		if f&frameMeta != 0 && m.topic != "" {
			parts = append(parts, h.topic[:], stringBytes(m.topic))
		}
	}
	return append(parts, h.msg[:], m.data)
}

// packedLen returns the payload length of batch in the packed framing f.
func packedLen(batch []*Message, f framing) int {
	n := 0
	for _, m := range batch {
		var parts [maxRecordParts][]byte
		for _, p := range appendRecordParts(parts[:0], m, f) {
			n += len(p)
		}
	}
	return n
}

// appendRecords appends batch's records in the packed framing f.
func appendRecords(b []byte, batch []*Message, f framing) []byte {
	for _, m := range batch {
		var parts [maxRecordParts][]byte
		for _, p := range appendRecordParts(parts[:0], m, f) {
			b = append(b, p...)
		}
	}
	return b
}

// Compressed packed frames (see permessage-deflate in prepared.go). A packed frame (the resume and packed subprotocols) is made per batch of
// the subscriber's own records, so it cannot be compressed once for all.
// Its records can: each message's records, in each packed framing, are
// compressed on their own once (wsDeflateRecords) and end with a sync
// flush, so that the chunks of a batch's messages, one after the other,
// make one valid DEFLATE stream, the compressed payload of the frame: no
// chunk refers to the data of another (each compressor starts afresh), and
// each ends on a byte boundary. Only the frame's header is the
// subscriber's own.

// appendDeflatedPacked appends the parts of batch's packed frame (framing
// f) with its payload compressed: the header (RSV1 set, appended to hdr),
// then each message's shared chunk, the last one without the tail that
// RFC 7692 removes. It returns parts unchanged and false when the batch's
// plain payload (plainLen) is under min (0: none is compressed) or
// compressing does not make it smaller.
func appendDeflatedPacked(parts [][]byte, hdr []byte, batch []*Message, f framing, min, plainLen int) ([][]byte, bool) {
	if min <= 0 || plainLen < min {
		return parts, false
	}
	start := len(parts)
	parts = append(parts, nil) // the header, once the length is known
	for _, m := range batch {
		c := m.wsDeflateRecords(f)
		if c == nil {
			return parts[:start], false
		}
		parts = append(parts, c)
	}
	if wsframe.FrameDeflated(parts[start:], hdr) >= plainLen {
		return parts[:start], false
	}
	return parts, true
}
