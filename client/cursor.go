package client

import (
	"strings"

	"github.com/fanout-go/fanout"
)

// cursor is what the client resumes from (docs/protocol.md § 5 and § 7).
//
// A server whose engine has several partitions (the Redis engine) orders
// each partition on its own, so a subscription whose topics map to
// several of them needs a position in each. Over WebSocket, a message
// carries the ID of its own partition only, and a position signal may
// carry a composite ID: the positions of several partitions joined by
// '.', in increasing partition order. The cursor keeps the last position
// of each partition, and the client resumes from their composite.
//
// An ID that is not made of positions (a server without a store, or one
// that assigns its own IDs with WithID) is kept as it is, opaquely, as the
// last such ID: the client sends it back byte for byte.
//
// A cursor is owned by the client's goroutine; its zero value is empty.
type cursor struct {
	opaque string // the last ID, when it is not made of positions
	parts  []part // otherwise: one position per partition, in increasing partition order
	id     string // the ID to resume from: opaque, or the composite of parts
	read   []part // the positions of the ID being taken in (reused)
}

// part is one partition's position.
type part struct {
	partition int
	id        string // the position's ID, as the server wrote it
}

// String returns the ID to resume from: the last opaque ID, or the
// composite of each partition's position, or "" for none.
func (c *cursor) String() string { return c.id }

// set takes in an ID the server sent. whole says that the ID stands for
// the whole cursor, as a position signal's and every SSE event's do: it
// replaces what the cursor held. Otherwise (a WebSocket message's ID) each
// position it holds replaces the one of its partition only, and the
// others stay. An ID that is not made of positions replaces the cursor,
// as does a position after one that is not. "" (a message without an ID,
// a resync) changes nothing.
func (c *cursor) set(id string, whole bool) {
	if id == "" {
		return
	}
	ps, ok := parseComposite(id, c.read[:0])
	c.read = ps
	switch {
	case !ok:
		c.opaque, c.parts, c.id = id, c.parts[:0], id
		return
	case whole || c.opaque != "" || len(c.parts) == 0:
		c.opaque, c.parts = "", append(c.parts[:0], ps...)
		c.id = id
		return
	}
	for _, p := range ps {
		c.put(p)
	}
	c.id = c.join()
}

// put sets p as its partition's position, keeping parts in order.
func (c *cursor) put(p part) {
	i := len(c.parts)
	for i > 0 && c.parts[i-1].partition >= p.partition {
		i--
	}
	if i < len(c.parts) && c.parts[i].partition == p.partition {
		c.parts[i] = p
		return
	}
	c.parts = append(c.parts, part{})
	copy(c.parts[i+1:], c.parts[i:])
	c.parts[i] = p
}

// join returns the composite of parts.
func (c *cursor) join() string {
	if len(c.parts) == 1 {
		return c.parts[0].id
	}
	n := len(c.parts) - 1
	for _, p := range c.parts {
		n += len(p.id)
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range c.parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.id)
	}
	return b.String()
}

// compositeSep separates the positions of a composite ID. No position
// contains it: an epoch is made of [0-9A-Za-z_].
const compositeSep = '.'

// parseComposite reads id as a composite ID: one or more positions
// (fanout.ParseID) joined by '.', in strictly increasing partition order.
// It appends them to buf and returns it, or reports false for anything
// else (the ID is then opaque).
func parseComposite(id string, buf []part) ([]part, bool) {
	start := len(buf)
	for rest := id; ; {
		piece, after, more := strings.Cut(rest, string(compositeSep))
		p, err := fanout.ParseID(piece)
		if err != nil {
			return buf[:start], false
		}
		if len(buf) > start && buf[len(buf)-1].partition >= p.Partition {
			return buf[:start], false
		}
		buf = append(buf, part{partition: p.Partition, id: piece})
		if !more {
			return buf, true
		}
		rest = after
	}
}
