// Package wsframe is the RFC 6455 frame layout as fanout writes it: frame
// headers, opcodes, control frames and close payloads, a client's pong
// frame read off the socket, and the permessage-deflate (RFC 7692) framing
// of messages compressed on their own. It knows nothing of messages,
// topics or subscribers: it turns bytes into frames and back.
//
// Every frame it builds is a server's: final and unmasked. The only
// client frame it reads is a pong (see ClientPong).
package wsframe

import "encoding/binary"

// Opcodes (RFC 6455, section 5.2).
const (
	OpText   = 0x1
	OpBinary = 0x2
	OpClose  = 0x8
	OpPing   = 0x9
	OpPong   = 0xA
)

// Bits of a frame header's first byte.
const (
	Fin  = 0x80 // the final fragment of a message
	RSV1 = 0x40 // a compressed message (permessage-deflate, RFC 7692)
)

// MaxControlPayload is the most a control frame (close, ping, pong)
// carries (RFC 6455, section 5.5).
const MaxControlPayload = 125

// MaxControlFrame is the size of the largest control frame a server
// writes: 2 bytes of header and MaxControlPayload bytes of payload.
const MaxControlFrame = 2 + MaxControlPayload

// MaxHeaderLen is the size of the longest server frame header.
const MaxHeaderLen = 10

// HeaderLen returns the size of a server frame header for a payload of n
// bytes.
func HeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// AppendHeader appends a final, unmasked frame header for a payload of n
// bytes.
func AppendHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, Fin|opcode)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// Control returns a control frame (ping, close) with payload p, which
// must be at most MaxControlPayload bytes.
func Control(opcode byte, p []byte) []byte {
	return append(AppendHeader(make([]byte, 0, 2+len(p)), opcode, len(p)), p...)
}

// Close returns a close frame with status code and reason (RFC 6455,
// section 5.5.1). The reason must leave the payload within
// MaxControlPayload bytes.
func Close(code uint16, reason string) []byte {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), code)
	return Control(OpClose, append(p, reason...))
}

// IsClose reports whether p begins a close frame a server writes (final,
// unmasked or not, uncompressed).
func IsClose(p []byte) bool { return len(p) > 0 && p[0] == Fin|OpClose }
