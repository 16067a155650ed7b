package fanout

// WireDeflateFrame returns m's compressed WebSocket frame (nil when
// compressing does not shrink it), building it on first use.
func (m *Message) WireDeflateFrame() []byte { return m.wsDeflateFrame() }
