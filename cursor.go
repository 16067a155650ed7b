package fanout

import (
	"fmt"
	"strings"
)

// Cursor is where a client is in each of the partitions it follows: one
// Position per partition, in increasing partition order, each partition
// at most once. A subscriber whose topics map to several partitions of
// an engine (the Redis engine on a Cluster has 16) resumes all of them
// from one Cursor; a Cursor of one position is that position.
//
// Its ID (String) is its positions' IDs joined by ".", as in
// "k2f9w-42.k2f9x:3-17": a Cursor of one position is spelled as that
// position's ID, so that an application with one partition sees no
// change. Clients treat it, as every ID, as an opaque string (the Go and
// JavaScript clients build one from the IDs they received: see
// docs/protocol.md, section 5).
type Cursor []Position

// maxCursorLen bounds a Cursor's ID: MaxLastEventIDLen, the longest ID a
// client may resume from.
const maxCursorLen = MaxLastEventIDLen

// ParseCursor reads an ID written by Cursor.String (or Position.ID): one
// position, or several joined by "." in increasing partition order. It
// fails with an error wrapping ErrUnknownID for anything else, and for
// an ID longer than MaxLastEventIDLen.
func ParseCursor(id string) (Cursor, error) {
	if len(id) > maxCursorLen {
		return nil, fmt.Errorf("%w: ID of %d bytes is too long", ErrUnknownID, len(id))
	}
	return parseCursorInto(make(Cursor, 0, strings.Count(id, ".")+1), id)
}

// parseCursorInto parses id (at most maxCursorLen bytes) into dst[:0],
// and so allocates nothing when dst has room. The epochs it returns are
// substrings of id.
func parseCursorInto(dst Cursor, id string) (Cursor, error) {
	dst = dst[:0]
	for {
		part, rest, more := strings.Cut(id, ".")
		p, err := ParseID(part)
		if err != nil {
			return dst[:0], err
		}
		if n := len(dst); n > 0 && dst[n-1].Partition >= p.Partition {
			return dst[:0], fmt.Errorf("%w: partitions not in increasing order", ErrUnknownID)
		}
		dst = append(dst, p)
		if !more {
			return dst, nil
		}
		id = rest
	}
}

// String returns c's ID: its positions' IDs joined by "." ("" for an
// empty Cursor).
func (c Cursor) String() string {
	if len(c) == 0 {
		return ""
	}
	if len(c) == 1 {
		return c[0].ID()
	}
	return string(c.appendID(make([]byte, 0, len(c)*(maxPosIDLen+1))))
}

// appendID appends c's ID to b.
func (c Cursor) appendID(b []byte) []byte {
	for i, p := range c {
		if i > 0 {
			b = append(b, '.')
		}
		b = p.appendID(b)
	}
	return b
}

// Find returns c's position in partition, and whether it has one.
func (c Cursor) Find(partition int) (Position, bool) {
	for _, p := range c {
		if p.Partition == partition {
			return p, true
		}
	}
	return Position{}, false
}

// With returns c with p as its position in p's partition: in place when
// c has one there (so c's elements change), else with p inserted in
// partition order (which may allocate). A zero p leaves c as it is.
func (c Cursor) With(p Position) Cursor {
	if p.IsZero() {
		return c
	}
	i := 0
	for i < len(c) && c[i].Partition < p.Partition {
		i++
	}
	if i < len(c) && c[i].Partition == p.Partition {
		c[i] = p
		return c
	}
	c = append(c, Position{})
	copy(c[i+1:], c[i:])
	c[i] = p
	return c
}
