package fanout

import (
	"net"
	"sync"
)

// writeScratch is the space a writer works in for one batch: the frames
// (or events, or a packed frame's parts) it is made of, the net.Buffers
// that writev consumes, and, for sockets without writev, one flat copy.
// Writers run only while there is something to write (see writeOnDemand),
// so they borrow it from a pool instead of each subscriber keeping its
// own: an idle subscriber holds none, however large its last batch was.
type writeScratch struct {
	parts [][]byte
	vec   net.Buffers
	flat  []byte
}

var scratchPool = sync.Pool{New: func() any { return new(writeScratch) }}

func getScratch() *writeScratch { return scratchPool.Get().(*writeScratch) }

// putScratch returns s, emptied, to the pool; a flat copy larger than
// maxKeptScratch is left to the garbage collector.
func putScratch(s *writeScratch) {
	clear(s.parts)
	s.parts = s.parts[:0]
	if cap(s.flat) > maxKeptScratch {
		s.flat = nil
	}
	scratchPool.Put(s)
}
