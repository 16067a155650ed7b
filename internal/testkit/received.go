package testkit

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/fanout-go/fanout"
)

// Record is what Received needs to know of a record that a test client
// received.
type Record interface {
	// RecordID is the record's ID ("" for none); a position's is the
	// position.
	RecordID() string
	// IsPosition reports a new stream's position: an ID and no message.
	IsPosition() bool
	// ResyncData is a resync signal's data; ok reports a resync.
	ResyncData() (data string, ok bool)
}

// Received is what one resuming client of a property test received over
// all its connections, checked as it arrives: a position only before the
// first record (only new streams get one), no resync signal, and an ID on
// every record unless NoIDs. Its methods are safe for concurrent use.
type Received[R Record] struct {
	NoIDs bool // records carry no IDs (a plain WebSocket): one without is no problem

	mu       sync.Mutex
	got      []R
	position string // the position its first stream started at, if any
	problems []string
	// cur is the ID to resume from as the Go and JavaScript clients keep
	// it: a position per partition, which a position record sets and
	// each record's ID (a position, or over SSE a composite) updates; nil
	// once an ID was not a position (the last record's ID is then used).
	cur      fanout.Cursor
	noCursor bool
}

// Add takes r, noting what is wrong with it.
func (c *Received[R]) Add(r R) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := strconv.Itoa(len(c.got))
	if r.IsPosition() {
		if len(c.got) > 0 {
			c.problems = append(c.problems, "a position after record "+n+": only new streams get one")
		}
		c.position = r.RecordID()
		cur, err := fanout.ParseCursor(c.position)
		c.cur, c.noCursor = cur, err != nil
		return
	}
	if data, ok := r.ResyncData(); ok {
		c.problems = append(c.problems, "resync signal after record "+n+": "+data)
	} else if r.RecordID() == "" && !c.NoIDs {
		c.problems = append(c.problems, "record without ID after record "+n)
	}
	c.got = append(c.got, r)
	if id := r.RecordID(); id != "" && !c.noCursor {
		cur, err := fanout.ParseCursor(id)
		c.noCursor = err != nil
		for _, p := range cur {
			c.cur = c.cur.With(p)
		}
	}
}

// Problem notes a problem that the client found itself.
func (c *Received[R]) Problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// LastID is the ID to resume from: the position the first stream started
// at, with the position of every record received since in its partition
// (the last record's ID, with one partition); or, when an ID was not a
// position, the last record's, or the position when no record came yet.
func (c *Received[R]) LastID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(c.cur) > 0 && !c.noCursor:
		return c.cur.String()
	case len(c.got) == 0:
		return c.position
	}
	return c.got[len(c.got)-1].RecordID()
}

// FirstID is the first record's ID ("" before any).
func (c *Received[R]) FirstID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		return ""
	}
	return c.got[0].RecordID()
}

// Records returns a copy of the records received, positions aside.
func (c *Received[R]) Records() []R {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]R(nil), c.got...)
}

// Problems returns a copy of the problems noted.
func (c *Received[R]) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problems...)
}
