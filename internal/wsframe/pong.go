package wsframe

// MaxClientPong is the size of the largest pong frame a client sends:
// 2 bytes of header, 4 of mask, MaxControlPayload of payload.
const MaxClientPong = 2 + 4 + MaxControlPayload

// ClientPong reports whether b, the bytes at the head of what a client
// sent, can begin a pong frame that the server may take off the stream
// itself: final, masked, at most MaxControlPayload bytes. When it can and
// b holds the second byte, size is the whole frame's size (b may hold
// less: the rest has not arrived); size is 0 when b holds only the first
// byte. An empty b is no pong.
func ClientPong(b []byte) (size int, ok bool) {
	if len(b) == 0 || b[0] != Fin|OpPong {
		return 0, false
	}
	if len(b) < 2 {
		return 0, true
	}
	if b[1]&0x80 == 0 || int(b[1]&0x7f) > MaxControlPayload {
		return 0, false
	}
	return 6 + int(b[1]&0x7f), true
}

// PongPayload unmasks, in place, and returns the payload of a client's
// whole pong frame (see ClientPong).
func PongPayload(frame []byte) []byte {
	payload := frame[6:]
	for i := range payload {
		payload[i] ^= frame[2+i%4]
	}
	return payload
}
