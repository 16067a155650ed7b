package fanout

import "github.com/fanout-go/fanout/internal/wsframe"

// The wire encoders, for the fuzz tests and benchmarks in package
// fanout_test, so they can round-trip what the Hub writes.
var (
	AppendFrameHeader = wsframe.AppendHeader
	AppendRecords     = appendRecords
	PackedLen         = packedLen
)

// Framing is how a subscriber's batches are written; the packed ones, by
// subprotocol.
type Framing = framing

const (
	FramingPacked   = framePacked                        // PackedSubprotocol
	FramingResume   = framePacked | frameIDs             // ResumeSubprotocol
	FramingPackedV2 = framePacked | frameMeta            // PackedSubprotocolV2
	FramingResumeV2 = framePacked | frameIDs | frameMeta // ResumeSubprotocolV2
)

// WireFrame returns m's prepared WebSocket frame, building it on first use.
func (m *Message) WireFrame() []byte { return m.wsFrame() }

// SSEEvent returns m's prepared Server-Sent Event, building it on first use.
func (m *Message) SSEEvent() ([]byte, error) { return m.sseEvent() }

// OnTopic returns a copy of m published to topic, as a Hub without
// history makes one.
func (m *Message) OnTopic(topic string) *Message { return m.onTopic(topic) }

// The signals a Hub queues of its own accord: a resync (with the reason
// err gives) and a new subscriber's position.
var (
	ResyncMessage   = resyncMessage
	PositionMessage = positionMessage
)
