package fanout

// WireDeflateFrame returns m's compressed WebSocket frame (nil when
// compressing does not shrink it), building it on first use.
func (m *Message) WireDeflateFrame() []byte { return m.wsDeflateFrame() }

// WireDeflateRecords returns m's records in the packed framing of
// subprotocol proto compressed on their own, with the sync flush's tail,
// and the same records plain.
func (m *Message) WireDeflateRecords(proto string) (deflated, plain []byte) {
	f := wsFraming(proto, true)
	return m.wsDeflateRecords(f), appendRecords(nil, []*Message{m}, f)
}
