package fanout

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is where a stored message sits in an engine's log: the
// Offset-th message of one Partition of the log whose current life is
// Epoch. A Message's ID is its Position, written as a string.
//
// Offsets are dense: within one epoch of one partition, the messages are
// numbered 1, 2, 3, ... with none skipped, so a missing message is found
// by arithmetic, and two positions of the same log are ordered by their
// offsets. Offset 0 is the position before the first message (the head
// of an empty log). The epoch changes whenever the log lost its history
// (an in-memory store restarted, Redis restarted empty): positions of
// different epochs are not comparable, and resuming from one of another
// epoch gets a resync signal, never a wrong or partial replay.
//
// A partition orders all the topics that map to it: a subscriber whose
// topics share a partition resumes all of them from one ID; one whose
// topics map to several resumes from a Cursor, a position in each. The
// in-process engine has one partition, so every topic is ordered with
// every other.
type Position struct {
	Epoch     string // [0-9A-Za-z_], 1 to 32 characters; "" for no position
	Partition int    // 0 to 9999
	Offset    uint64
}

// Limits of a Position's fields, so that its ID stays short.
const (
	maxEpochLen   = 32
	maxPartitions = 10000
	maxPosIDLen   = maxEpochLen + 1 + 4 + 1 + 20 // epoch ":" partition "-" offset
)

// IsZero reports whether p is no position at all (a message that was not
// stored).
func (p Position) IsZero() bool { return p.Epoch == "" }

// ID returns p as a message ID: "epoch-offset" for partition 0 (as in
// "k2f9w-42"), "epoch:partition-offset" otherwise, and "" for the zero
// Position. Clients treat IDs as opaque strings.
func (p Position) ID() string {
	if p.IsZero() {
		return ""
	}
	var b [maxPosIDLen]byte
	return string(p.appendID(b[:0]))
}

func (p Position) appendID(b []byte) []byte {
	b = append(b, p.Epoch...)
	if p.Partition != 0 {
		b = strconv.AppendInt(append(b, ':'), int64(p.Partition), 10)
	}
	return strconv.AppendUint(append(b, '-'), p.Offset, 10)
}

// String returns p's ID.
func (p Position) String() string { return p.ID() }

// Before reports whether p comes before q in the same log (same epoch and
// partition). Positions of different logs are not ordered: Before is false.
func (p Position) Before(q Position) bool {
	return p.SameLog(q) && p.Offset < q.Offset
}

// SameLog reports whether p and q are positions of the same epoch of the
// same partition, and so can be compared.
func (p Position) SameLog(q Position) bool {
	return !p.IsZero() && p.Epoch == q.Epoch && p.Partition == q.Partition
}

// Next returns the position that follows p in its log.
func (p Position) Next() Position {
	p.Offset++
	return p
}

// validate reports whether p's fields can be written as an ID that
// ParseID reads back.
func (p Position) validate() error {
	if p.IsZero() {
		return nil
	}
	if !validEpoch(p.Epoch) {
		return fmt.Errorf("%w: epoch %q is not 1 to %d of [0-9A-Za-z_]", ErrInvalidMessage, p.Epoch, maxEpochLen)
	}
	if p.Partition < 0 || p.Partition >= maxPartitions {
		return fmt.Errorf("%w: partition %d out of range", ErrInvalidMessage, p.Partition)
	}
	return nil
}

func validEpoch(e string) bool {
	if e == "" || len(e) > maxEpochLen {
		return false
	}
	for i := range len(e) {
		c := e[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

// ParseID reads a message ID written by Position.ID. It fails with an
// error wrapping ErrUnknownID for anything else: a client's Last-Event-ID
// that no engine of this package assigned.
func ParseID(id string) (Position, error) {
	bad := func(why string) (Position, error) {
		return Position{}, fmt.Errorf("%w: %s", ErrUnknownID, why)
	}
	if len(id) > maxPosIDLen {
		return bad("ID too long")
	}
	head, off, ok := cutLast(id, '-')
	if !ok {
		return bad("malformed ID")
	}
	offset, ok := parseDecimal(off)
	if !ok {
		return bad("malformed offset")
	}
	p := Position{Epoch: head, Offset: offset}
	if e, part, ok := strings.Cut(head, ":"); ok {
		n, ok := parseDecimal(part)
		if !ok || n == 0 || n >= maxPartitions {
			return bad("malformed partition")
		}
		p.Epoch, p.Partition = e, int(n)
	}
	if !validEpoch(p.Epoch) {
		return bad("malformed epoch")
	}
	return p, nil
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// parseDecimal parses an unsigned decimal written without leading zeros
// (so that each number has one ID).
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
