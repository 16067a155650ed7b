package fanout

// The wire encoders, for the fuzz tests and benchmarks in package
// fanout_test, so they can round-trip what the Hub writes.
var (
	AppendFrameHeader = appendFrameHeader
	AppendRecords     = appendRecords
	PackedLen         = packedLen
)

// WireFrame returns m's prepared WebSocket frame, building it on first use.
func (m *Message) WireFrame() []byte { return m.wsFrame() }

// SSEEvent returns m's prepared Server-Sent Event, building it on first use.
func (m *Message) SSEEvent() ([]byte, error) { return m.sseEvent() }
