package fanout

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/fanout-go/fanout/internal/records"
	ssewire "github.com/fanout-go/fanout/internal/sse"
	"github.com/fanout-go/fanout/internal/wsframe"
)

// MessageType says whether a Message carries UTF-8 text or binary data. On
// WebSocket it selects the frame opcode.
type MessageType uint8

const (
	// Text is a UTF-8 text message (the zero value). Its data must be
	// valid UTF-8: Publish, Broadcast and Send refuse it otherwise, because
	// a WebSocket client must fail the connection on a text frame that is
	// not (RFC 6455, section 8.1), and an event stream is UTF-8 by
	// definition. Send arbitrary bytes as Binary.
	Text MessageType = iota
	// Binary is a binary message.
	Binary
)

// String returns "text" or "binary".
func (t MessageType) String() string {
	if t == Binary {
		return "binary"
	}
	return "text"
}

// Message is one published message, prepared once and shared read-only by
// every subscriber it is queued for: broadcasting it to N subscribers copies
// and allocates nothing per subscriber. The wire encodings (a WebSocket
// frame, its compressed form, a packed record) are built on first use and
// cached in the Message.
//
// A Message and the slice it was built from must not be modified after it
// is first published. A Message may be published more than once, and to
// several Hubs.
type Message struct {
	data  []byte
	typ   MessageType
	id    string
	event string
	topic string   // the topic it was published to ("" for a broadcast): see Topic
	pos   Position // where it was stored; zero when it was not
	ctl   ctlKind  // a signal of fanout's own, not an application message

	// utf8State caches whether data is valid UTF-8 (utf8Unknown until the
	// first publish checks it), so that a Message is validated once, not
	// once per subscriber or per publish.
	utf8State atomic.Uint32

	frameOnce sync.Once
	frame     []byte        // complete WebSocket data frame
	headers   recordHeaders // packed record headers, with frame

	deflateOnce sync.Once
	deflated    []byte // the frame compressed (see wsDeflateFrame); nil if that saves nothing

	deflatedRecsOnce sync.Once
	deflatedRecs     *deflatedRecords // its packed records compressed (see wsDeflateRecords)

	sseOnce sync.Once
	sse     []byte // complete SSE event
	sseErr  error
}

// ctlKind marks the messages fanout sends of its own accord.
type ctlKind uint8

const (
	ctlNone     ctlKind = iota
	ctlResync           // the subscriber could not resume: see ResyncEvent
	ctlPosition         // where a new subscriber's stream starts: an ID, no message
)

// Values of Message.utf8State.
const (
	utf8Unknown uint32 = iota
	utf8Valid
	utf8Invalid
)

// NewMessage returns a text message carrying data, which must be valid
// UTF-8 (see Text). data is not copied.
func NewMessage(data []byte) *Message { return &Message{data: data} }

// NewBinaryMessage returns a binary message carrying data. data is not copied.
func NewBinaryMessage(data []byte) *Message { return &Message{data: data, typ: Binary} }

// WithID returns a copy of m carrying id: the SSE "id" field, and the ID
// record that ResumeSubprotocol clients receive. IDs are opaque to fanout;
// a ReplayStore assigns them where replay is used (an ID set here is then
// replaced). An ID must be UTF-8 without CR, LF or NUL: Publish rejects
// another.
func (m *Message) WithID(id string) *Message {
	return m.with(id, m.event)
}

// WithEvent returns a copy of m carrying an event type: the SSE "event"
// field, and the event type record of the v2 WebSocket subprotocols
// (ResumeSubprotocolV2, PackedSubprotocolV2; clients of the v1 ones and
// plain WebSocket clients do not see it). It must be UTF-8 without CR or
// LF: Publish rejects another.
func (m *Message) WithEvent(event string) *Message {
	return m.with(m.id, event)
}

// with returns a copy of m with id and event. The copy shares m's data,
// and so what is known of its validity.
func (m *Message) with(id, event string) *Message {
	c := &Message{data: m.data, typ: m.typ, id: id, event: event}
	c.utf8State.Store(m.utf8State.Load())
	return c
}

// Stored returns a copy of m as stored on topic ("" for a broadcast) at
// pos, carrying pos's ID (see Position.ID). It is what a ReplayStore's
// Append and an Engine's feed return: the copy and its ID take one
// allocation, and m's payload is shared, not copied.
func (m *Message) Stored(topic string, pos Position) *Message {
	sm := &storedMessage{Message: Message{data: m.data, typ: m.typ, event: m.event, topic: topic, pos: pos}}
	sm.utf8State.Store(m.utf8State.Load()) // same data: what is known of it holds
	if !pos.IsZero() {
		id := pos.appendID(sm.idBuf[:0])
		sm.id = unsafe.String(&id[0], len(id)) // idBuf lives, unchanged, as long as sm
	}
	return &sm.Message
}

// onTopic returns a copy of m published to topic, for an engine that
// keeps no history (and so makes no stored copy): the topic travels with
// the message to the v2 subprotocols' topic record. The copy shares m's
// data, and so what is known of its validity.
func (m *Message) onTopic(topic string) *Message {
	c := &Message{data: m.data, typ: m.typ, id: m.id, event: m.event, topic: topic}
	c.utf8State.Store(m.utf8State.Load())
	return c
}

// storedMessage is a stored message and its ID's bytes in one allocation.
type storedMessage struct {
	Message
	idBuf [maxPosIDLen]byte
}

// validID reports whether id can be sent intact as an SSE id field (and
// so resumed from): UTF-8, without CR, LF or NUL. (EventSource decodes
// the stream as UTF-8: another ID would come back as a different one.)
func validID(id string) bool {
	return !strings.ContainsAny(id, "\r\n\x00") && utf8.ValidString(id)
}

// validate rejects fields that cannot be sent intact, and text that is
// not UTF-8. It runs once per publish, before fan-out; the payload's
// check is cached in m, so it runs once per Message.
func (m *Message) validate() error {
	if err := m.pos.validate(); err != nil {
		return err
	}
	if !validID(m.id) {
		return fmt.Errorf("%w: ID contains CR, LF or NUL, or is not UTF-8", ErrInvalidMessage)
	}
	if strings.ContainsAny(m.event, "\r\n") || !utf8.ValidString(m.event) {
		return fmt.Errorf("%w: event type contains CR or LF, or is not UTF-8", ErrInvalidMessage)
	}
	if m.typ == Text && !m.validText() {
		return fmt.Errorf("%w: text message is not valid UTF-8 (send arbitrary bytes as Binary)", ErrInvalidMessage)
	}
	return nil
}

// validText reports whether m's data is valid UTF-8, checking it on the
// first call only.
func (m *Message) validText() bool {
	switch m.utf8State.Load() {
	case utf8Valid:
		return true
	case utf8Invalid:
		return false
	}
	ok := utf8.Valid(m.data)
	if ok {
		m.utf8State.Store(utf8Valid)
	} else {
		m.utf8State.Store(utf8Invalid)
	}
	return ok
}

// Data returns the payload. It must not be modified.
func (m *Message) Data() []byte { return m.data }

// Type returns Text or Binary.
func (m *Message) Type() MessageType { return m.typ }

// ID returns the message's ID, or "".
func (m *Message) ID() string { return m.id }

// Event returns the message's event type, or "".
func (m *Message) Event() string { return m.event }

// Topic returns the topic the message was stored on ("" for a broadcast),
// for a message that an engine stored (see Position); "" otherwise. (A
// Hub without history copies each message it publishes to a topic, so
// that its v2 WebSocket clients get the topic too: see
// ResumeSubprotocolV2. The Message passed to Publish is not changed.)
func (m *Message) Topic() string { return m.topic }

// Position returns where the message was stored, or the zero Position for
// a message that was not (no store, BroadcastFilter, Subscriber.Send).
func (m *Message) Position() Position { return m.pos }

// Len returns the payload size in bytes; queue byte limits count it.
func (m *Message) Len() int { return len(m.data) }

// permessage-deflate (RFC 7692), compressed once per publish.
//
// A Hub with HubOptions.Compression lets coder/websocket negotiate the
// extension in its no-context-takeover form only: its response always says
// server_no_context_takeover and client_no_context_takeover. Each message
// is then compressed on its own, without the window of the messages before
// it, so the compressed frame does not depend on the connection: it is
// built once per Message, like the plain frame, and shared by every
// subscriber that negotiated the extension. coder/websocket inflates what
// clients send (ReadLimit bounds the inflated size).
//
// A message may always be sent uncompressed (RSV1 unset), so a subscriber
// gets the plain frame for a message below the threshold, and for one that
// deflate does not make smaller.

// defaultCompressionThreshold is HubOptions.CompressionThreshold's
// default: below it, deflate saves a few bytes at best (and often adds
// some), for what compressing and inflating cost.
const defaultCompressionThreshold = 512

// wsDataFrame returns the frame that carries m to a WebSocket client
// whose smallest compressed message is min bytes (0: it negotiated no
// permessage-deflate): compressed where m is at least min and compressing
// saves bytes; the plain frame otherwise.
func (m *Message) wsDataFrame(min int) []byte {
	if min > 0 && len(m.data) >= min {
		if f := m.wsDeflateFrame(); f != nil {
			return f
		}
	}
	return m.wsFrame()
}

// wsDeflateFrame returns m's complete, unmasked WebSocket frame with its
// payload compressed (RSV1 set), building it on first use: one
// compression and one allocation per Message, whatever the number of
// subscribers that send it. It returns nil when compressing does not make
// the payload smaller; the plain frame (wsFrame) serves then.
func (m *Message) wsDeflateFrame() []byte {
	m.deflateOnce.Do(func() { m.deflated = wsframe.DeflateMessage(m.typ.opcode(), m.data) })
	return m.deflated
}

// deflatedRecords holds a Message's packed records compressed, one chunk
// per packed framing, each built on first use.
type deflatedRecords struct {
	once   [4]sync.Once
	chunks [4][]byte
}

// wsDeflateRecords returns m's records in the packed framing f, compressed
// on their own and ended by a sync flush (its 0x00 0x00 0xff 0xff tail
// included), built once per Message and framing; nil if that failed.
func (m *Message) wsDeflateRecords(f framing) []byte {
	// Once, not a compare-and-swap: the writers of every subscriber get
	// here together, and each would allocate one to lose the race.
	m.deflatedRecsOnce.Do(func() { m.deflatedRecs = &deflatedRecords{} })
	d := m.deflatedRecs
	i := (f >> 1) & 3 // frameIDs and frameMeta
	d.once[i].Do(func() { d.chunks[i] = deflateRecords(m, f) })
	return d.chunks[i]
}

// deflateRecords compresses m's records in the packed framing f.
func deflateRecords(m *Message, f framing) []byte {
	var parts [maxRecordParts][]byte
	return wsframe.DeflateChunk(appendRecordParts(parts[:0], m, f))
}

// sseEvent returns m's complete Server-Sent Event, encoding it on first use
// (once per publish, shared by every SSE subscriber).
//
// The data field carries the payload as text; SSE has no other kind. CR
// and CRLF line breaks arrive as LF, as every SSE client parses them. A
// Binary message is sent base64-encoded (standard encoding, padded), so its
// bytes arrive intact.
func (m *Message) sseEvent() ([]byte, error) {
	m.sseOnce.Do(func() { m.sseErr = m.encodeSSE() })
	return m.sse, m.sseErr
}

// encodeSSE encodes m's event into m.sse: written there in place, its
// bytes are its one allocation.
func (m *Message) encodeSSE() error {
	var err error
	switch {
	case m.ctl == ctlPosition:
		// The ID (which EventSource records for its reconnection) in an
		// event of its own type: browsers dispatch it to no onmessage
		// handler, and a client that must know its position (to reopen
		// with ?lastEventId= once EventSource gave up, or a library that
		// ignores an id alone) can listen for it.
		err = ssewire.AppendEvent(&m.sse, m.id, PositionEvent, m.id)
	case m.typ == Binary:
		err = ssewire.AppendEvent(&m.sse, m.id, m.event, base64.StdEncoding.EncodeToString(m.data))
	default:
		data := unsafe.String(unsafe.SliceData(m.data), len(m.data)) // read-only, like m.data
		err = ssewire.AppendEvent(&m.sse, m.id, m.event, data)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	return nil
}

func (t MessageType) opcode() byte {
	if t == Binary {
		return wsframe.OpBinary
	}
	return wsframe.OpText
}

// wsFrame returns the complete, unmasked server-to-client frame for m,
// building it on first use (one allocation).
func (m *Message) wsFrame() []byte {
	m.frameOnce.Do(func() {
		f := make([]byte, 0, wsframe.HeaderLen(len(m.data))+len(m.data))
		f = wsframe.AppendHeader(f, m.typ.opcode(), len(m.data))
		m.frame = append(f, m.data...)
		switch m.ctl {
		case ctlResync:
			records.PutHeader(&m.headers.msg, records.KindResync, len(m.data))
		case ctlPosition: // its payload is its ID
			records.PutHeader(&m.headers.msg, records.KindPosition, len(m.id))
		default:
			records.PutHeader(&m.headers.msg, packedKind(m.typ), len(m.data))
		}
		records.PutHeader(&m.headers.id, records.KindID, len(m.id))
		records.PutHeader(&m.headers.event, records.KindEvent, len(m.event))
		records.PutHeader(&m.headers.topic, records.KindTopic, len(m.topic))
	})
	return m.frame
}

// recordHeaders are a Message's headers in the packed framing (see
// Unpack): its own record's and those of the records that precede it.
type recordHeaders struct {
	msg   [records.HeaderLen]byte // the message's record (or resync, position)
	id    [records.HeaderLen]byte // its ID record (ResumeSubprotocol)
	event [records.HeaderLen]byte // its event type record (v2)
	topic [records.HeaderLen]byte // its topic record (v2)
}

// recordHeaders returns m's record headers, prepared with its frame. They
// live in m, so packed batches share them like the payload.
func (m *Message) recordHeaders() *recordHeaders {
	m.wsFrame()
	return &m.headers
}

// stringBytes returns s as bytes, without copying: a record's payload
// taken from m's ID, event type or topic. They must not be modified.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
