package fanout

import "sync"

// cursorSink is a sink that writes its subscriber's Cursor into what it
// sends (SSE: see sseCursor). core.subscribe gives it the Cursor a
// resumed subscriber starts from, before its writer takes anything.
type cursorSink interface {
	startCursor(c Cursor)
}

// sseCursor is what an SSE stream has told its client of each partition
// its subscriber follows: the last position sent of each. An EventSource
// sends back exactly the last id field it got, so a subscriber that
// follows several partitions gets, in every message's id field, its
// whole Cursor with the message's own position, instead of the message's
// ID alone (docs/protocol.md, section 5); one that follows one partition
// gets the shared events as they are.
//
// The id line is written per subscriber, into scratch memory borrowed
// from a pool for the batch, beside the bytes of the shared event that
// follow its own id line: nothing is allocated per subscriber and
// message, and a message is encoded once whatever its subscribers'
// Cursors. It is the writer's alone.
type sseCursor struct {
	vec Cursor
}

var _ cursorSink = (*sseCursor)(nil)

func (k *sseCursor) startCursor(c Cursor) { k.vec = append(k.vec[:0], c...) }

// see records that m is being sent, and reports whether its event needs
// the Cursor as its id (see appendEvent).
func (k *sseCursor) see(m *Message) bool {
	switch {
	case m.ctl == ctlPosition:
		// Its ID is the whole Cursor of the subscriber.
		if v, err := parseCursorInto(k.vec, m.id); err == nil {
			k.vec = v
		} else {
			k.vec = k.vec[:0]
		}
		return false
	case m.pos.IsZero(): // not stored: its own ID, if any, as it is
		return false
	}
	k.vec = k.vec.With(m.pos)
	return len(k.vec) > 1
}

// appendEvent appends to b m's event ev with the Cursor as its id: "id: ",
// the Cursor, a line feed, then what follows ev's own id line. It returns
// b unchanged and false when ev has no such line (unreachable: a stored
// message's event begins with its ID).
func (k *sseCursor) appendEvent(b []byte, m *Message, ev []byte) ([]byte, bool) {
	body, ok := afterIDLine(ev, m.id)
	if !ok {
		return b, false
	}
	b = append(b, "id: "...)
	b = k.vec.appendID(b)
	b = append(b, '\n')
	return append(b, body...), true
}

// afterIDLine returns what follows the id line of id that begins ev.
func afterIDLine(ev []byte, id string) ([]byte, bool) {
	const field = "id: "
	n := len(field) + len(id) + 1
	if len(ev) < n || string(ev[:len(field)]) != field || string(ev[len(field):n-1]) != id || ev[n-1] != '\n' {
		return nil, false
	}
	return ev[n:], true
}

// cursorScratch is the memory a writer rewrites a batch's events in (see
// sseCursor): borrowed from a pool for one batch, so that an idle
// subscriber holds none.
type cursorScratch struct {
	buf  []byte
	ends []int // the end in buf of each event rewritten
}

var cursorScratchPool = sync.Pool{New: func() any { return new(cursorScratch) }}

// maxKeptCursorScratch bounds the scratch a pool keeps: a larger one, of
// a burst of large events, is left to the garbage collector.
const maxKeptCursorScratch = 256 << 10

func getCursorScratch() *cursorScratch { return cursorScratchPool.Get().(*cursorScratch) }

func putCursorScratch(sc *cursorScratch) {
	if cap(sc.buf) > maxKeptCursorScratch {
		sc.buf = nil
	}
	sc.buf, sc.ends = sc.buf[:0], sc.ends[:0]
	cursorScratchPool.Put(sc)
}
