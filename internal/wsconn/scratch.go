package wsconn

import (
	"net"
	"sync"
)

// Scratch is the space a writer works in for one batch: the frames
// (or events, or a packed frame's parts) it is made of, the net.Buffers
// that writev consumes, and, for sockets without writev, one flat copy.
// Writers run only while there is something to write, so they borrow it from a pool instead of each subscriber keeping its
// own: an idle subscriber holds none, however large its last batch was.
type Scratch struct {
	Parts [][]byte
	vec   net.Buffers
	flat  []byte
}

var scratchPool = sync.Pool{New: func() any { return new(Scratch) }}

func GetScratch() *Scratch { return scratchPool.Get().(*Scratch) }

// PutScratch returns s, emptied, to the pool; a flat copy larger than
// MaxKeptScratch is left to the garbage collector.
func PutScratch(s *Scratch) {
	clear(s.Parts)
	s.Parts = s.Parts[:0]
	if cap(s.flat) > MaxKeptScratch {
		s.flat = nil
	}
	scratchPool.Put(s)
}

// MaxKeptScratch is the largest write scratch buffer a subscriber keeps
// between batches; larger ones are left to the garbage collector.
const MaxKeptScratch = 64 << 10
