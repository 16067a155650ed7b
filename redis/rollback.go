package redis

import (
	"strconv"
	"sync"

	"github.com/fanout-go/fanout"
)

// A partition's history can go back while its keys stay: Redis restarts
// from a snapshot older than its last writes, or a replica that lagged
// is promoted. Its head is then lower than offsets already handed out, in
// the same epoch, and the next messages would take those offsets again:
// an ID of a lost message would be taken for one of the new ones. The
// publish and head scripts start a new epoch instead (see the package
// documentation for why this is sound):
//
//   - when the meta hash was written under another run_id than the
//     server's (a restart, or another server: a failover), or under
//     another master_replid (a failover back to a server that was
//     resynchronised meanwhile), and
//   - when the head is below the highest offset of the same epoch that
//     the calling node has seen (a rollback within one run_id), which
//     the node passes with every call.
//
// seen is that highest offset.

// seen is the highest position of a partition's current epoch that this
// node has been told of: by its publishes' replies, the heads it read and
// the messages it delivered.
type seen struct {
	mu     sync.Mutex
	epoch  string
	offset uint64
}

// observe records that Redis answered with epoch and offset. Another
// epoch replaces the one held: epochs are never reused, so a stale one
// only makes the check that the scripts do with it vacuous.
func (s *seen) observe(epoch string, offset uint64) {
	s.mu.Lock()
	if epoch != s.epoch {
		s.epoch, s.offset = epoch, offset
	} else if offset > s.offset {
		s.offset = offset
	}
	s.mu.Unlock()
}

func (s *seen) observePosition(pos fanout.Position) { s.observe(pos.Epoch, pos.Offset) }

// ensureArgs returns the scripts' ensure arguments (see internal/script): the
// epoch prefix, the number of partitions, and the epoch and offset seen.
func (e *Engine) ensureArgs(p *part) (prefix, partitions, epoch, offset string) {
	p.seen.mu.Lock()
	epoch, o := p.seen.epoch, p.seen.offset
	p.seen.mu.Unlock()
	return e.epochID, e.partitionsArg, epoch, strconv.FormatUint(o, 10)
}
