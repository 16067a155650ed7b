package main

import "time"

// A message's payload is text, so that SSE carries it unchanged:
//
//	[0:16]  publish time (see pacer): ns since clockBase, 16 hex digits
//	[16]    '-'
//	[17:25] sequence number, 8 hex digits
//	[25:]   '.' padding up to the message size
//
// A warm-up message has 'w' in place of the publish time; clients use it to
// prove that they are subscribed, and leave it out of every figure.
const (
	stampLen   = 16
	seqOff     = 17
	seqLen     = 8
	minMsgSize = seqOff + seqLen
)

// clockBase is the origin of every stamp. time.Since(clockBase) reads the
// monotonic clock, so stamps and receive times are comparable.
var clockBase = time.Now()

// now returns the monotonic time since clockBase.
func now() time.Duration { return time.Since(clockBase) }

const hexDigits = "0123456789abcdef"

func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// parseHex reads a fixed-width hex number; ok is false for a non-hex digit.
func parseHex(b []byte) (v uint64, ok bool) {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// newPayload returns a fresh payload of size bytes (a published message
// must not be modified afterwards, so each one gets its own) stamped with
// its publish time (see pacer) and its sequence number.
func newPayload(size int, due time.Duration, seq int) []byte {
	b := make([]byte, size)
	putHex(b[:stampLen], uint64(due))
	b[stampLen] = '-'
	putHex(b[seqOff:seqOff+seqLen], uint64(seq))
	for i := minMsgSize; i < size; i++ {
		b[i] = '.'
	}
	return b
}

// newWarmup returns a warm-up payload carrying seq.
func newWarmup(size int, seq int) []byte {
	b := newPayload(size, 0, seq)
	for i := range stampLen {
		b[i] = 'w'
	}
	return b
}

// decoded is what a client reads from a payload.
type decoded struct {
	warm bool
	due  time.Duration
	seq  int
	ok   bool
}

func decode(b []byte) decoded {
	if len(b) < minMsgSize {
		return decoded{}
	}
	seq, ok := parseHex(b[seqOff : seqOff+seqLen])
	if !ok {
		return decoded{}
	}
	if b[0] == 'w' {
		return decoded{warm: true, seq: int(seq), ok: true}
	}
	due, ok := parseHex(b[:stampLen])
	return decoded{due: time.Duration(due), seq: int(seq), ok: ok}
}
