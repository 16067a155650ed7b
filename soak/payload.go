package main

import (
	"bytes"
	"errors"
	"strconv"
)

// A soak message's payload is ASCII text, fields separated by one space:
//
//	PUB TOPIC SEQ FAILED STAMP PREV PADDING
//
// PUB names the publisher (system, node, incarnation and goroutine:
// "c.n1.i0.p2"), unique for the whole run, so a node that restarts
// publishes under new names. SEQ counts that publisher's messages on
// TOPIC: 1, 2, 3, ... FAILED is how many Publish calls for the sequence
// numbers just before SEQ failed (SEQ-FAILED .. SEQ-1): those may or may
// not have been stored (an error after Redis ran the script), so a client
// may miss them, or get them. STAMP is CLOCK_MONOTONIC (shared by every
// process on the machine) when Publish was called for this message, and
// PREV when it was called for SEQ-1 (0 for SEQ 1). PADDING makes
// messages of different sizes.
//
// The pair "PUB TOPIC" is the key under which a client checks the
// sequence; it is a prefix of the payload, so a map lookup by it
// allocates nothing.

// fields is a payload, parsed.
type fields struct {
	key    []byte // "PUB TOPIC": aliases the payload
	topic  []byte // aliases the payload
	seq    uint64
	failed uint64
	stamp  int64
	prev   int64
}

var errPayload = errors.New("malformed payload")

// parsePayload reads p; the byte slices in f alias it.
func parsePayload(p []byte) (f fields, err error) {
	var pos [6]int // where each of the first six fields ends
	n, from := 0, 0
	for n < 6 {
		i := bytes.IndexByte(p[from:], ' ')
		if i < 0 {
			if n == 5 { // no padding
				pos[n] = len(p)
				break
			}
			return f, errPayload
		}
		pos[n] = from + i
		from += i + 1
		n++
	}
	f.key = p[:pos[1]]
	f.topic = p[pos[0]+1 : pos[1]]
	var ok [4]bool
	f.seq, ok[0] = atou(p[pos[1]+1 : pos[2]])
	f.failed, ok[1] = atou(p[pos[2]+1 : pos[3]])
	s, ok2 := atou(p[pos[3]+1 : pos[4]])
	pv, ok3 := atou(p[pos[4]+1 : pos[5]])
	ok[2], ok[3] = ok2, ok3
	f.stamp, f.prev = int64(s), int64(pv)
	if !ok[0] || !ok[1] || !ok[2] || !ok[3] || f.seq == 0 || len(f.topic) == 0 {
		return f, errPayload
	}
	return f, nil
}

// atou parses a decimal without allocating.
func atou(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// appendPayload appends a payload of at least size bytes.
func appendPayload(b []byte, pub, topic string, seq, failed uint64, stamp, prev int64, size int) []byte {
	start := len(b)
	b = append(b, pub...)
	b = append(b, ' ')
	b = append(b, topic...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, failed, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, stamp, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, prev, 10)
	if pad := size - (len(b) - start) - 1; pad > 0 {
		b = append(b, ' ')
		for range pad {
			b = append(b, 'x')
		}
	}
	return b
}

// ackPrefix starts what a node Sends a client that asked to join a
// topic, once it has: "ack TOPIC".
const ackPrefix = "ack "
