package redis

import "github.com/redis/rueidis"

// SetReadScan bounds how many stream entries one call of the read script
// examines (0: the default), so that tests reach the bound with few
// messages.
func SetReadScan(e *Engine, n int) {
	if n <= 0 {
		n = readScan
	}
	e.readScan.Store(int64(n))
}

// SetAuditEvery makes every n-th check of e's followers an audit (0:
// the default), so that tests reach it.
func SetAuditEvery(e *Engine, n int) {
	for _, p := range e.parts {
		p.auditN.Store(int64(n))
	}
}

// MetaKey is the name of the meta hash of e's partition p: tests that
// look at a partition's keys in Redis derive them from the engine.
func MetaKey(e *Engine, p int) string { return e.parts[p].keys[0] }

// KeySlot is the engine's Cluster slot of key (CRC16 of its hash tag),
// which tests compare with Redis's CLUSTER KEYSLOT.
var KeySlot = keySlot

// NewOldLayout is New, but a Cluster's partitions are tagged {prefix:p}
// and no marker is written or checked: a node of the layout of versions
// before the slot spread (v0.1.0), as far as Redis can tell.
func NewOldLayout(client rueidis.Client, opts *Options) (*Engine, error) {
	return newEngine(client, opts, true)
}

// PartitionTag is the hash tag of partition p of n under prefix (on a
// Cluster when spread).
var PartitionTag = partitionTag

// PublishQueue tells whether a leader serves partition pid's publishes
// (see commit.go), and how many are queued, not yet sent.
func PublishQueue(e *Engine, pid int) (active bool, queued int) {
	c := &e.parts[pid].commit
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active, len(c.queue)
}

// CrowdBatches is how many batches a leader yields before after the last
// evidence of concurrent publishers (see commit.go).
const CrowdBatches = crowdBatches

// PublishYields is how many times a leader of partition pid's publishes
// yielded before taking a batch (see commit.go).
func PublishYields(e *Engine, pid int) int {
	c := &e.parts[pid].commit
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.yields
}

// StreamKey is the name of the stream of e's partition p.
func StreamKey(e *Engine, p int) string { return e.parts[p].keys[1] }

// SeenPosition is the highest position of partition pid's epoch that e
// has seen (see rollback.go).
func SeenPosition(e *Engine, pid int) (epoch string, offset uint64) {
	s := &e.parts[pid].seen
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch, s.offset
}
