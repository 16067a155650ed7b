package bolt

import (
	"fmt"
	"runtime"

	"github.com/fanout-go/fanout"
	bbolt "go.etcd.io/bbolt"
)

// The writer: one goroutine commits the Appends that are waiting, all in
// one transaction (group commit). While it commits, new Appends queue up
// for the next one, so a lone publisher waits for one commit and many
// publishers share each commit's fsync; no timer is involved.
//
// bbolt's own DB.Batch was measured and not used: it waits up to
// MaxBatchDelay (10 ms) for a batch to fill, so a lone publisher waited
// 11.7 ms per publish (0.44 ms here), and it writes a key per message,
// which costs bbolt 2 to 3 times as much per commit as one record.

// batch is the Appends that one transaction commits.
type batch struct {
	reqs  []request
	bytes int           // payload bytes of reqs, to bound a transaction's size
	taken bool          // the writer took it (under Store.mu): no more requests, no cancelling
	done  chan struct{} // closed once committed or failed
	err   error         // set before done is closed
}

// request is one Append.
type request struct {
	topic     string
	m         *fanout.Message
	cancelled bool            // its context ended before the writer took it
	stored    *fanout.Message // set before done is closed, on success
}

// maxBatchBytes bounds the payload of one transaction (one record), once
// it holds a message: a value of bbolt must stay well under 2 GiB, and a
// large transaction delays everyone in it.
const maxBatchBytes = 4 << 20

// enqueue adds an Append to the open batch (opening one when there is
// none, or it is full) and wakes the writer; s.mu is held. It returns the
// batch and the request's index in it.
func (s *Store) enqueue(topic string, m *fanout.Message) (*batch, int) {
	var b *batch
	if n := len(s.queue); n > 0 {
		b = s.queue[n-1]
		if len(b.reqs) >= s.opts.MaxBatch || b.bytes+m.Len() > maxBatchBytes {
			b = nil
		}
	}
	if b == nil {
		b = &batch{done: make(chan struct{})}
		s.queue = append(s.queue, b)
		s.wake.Signal()
	}
	b.reqs = append(b.reqs, request{topic: topic, m: m})
	b.bytes += m.Len()
	return b, len(b.reqs) - 1
}

// run is the writer goroutine: it commits the queued batches in order
// until Close, then fails the ones still queued.
func (s *Store) run() {
	defer close(s.exited)
	var buf []byte // the record being written, reused (bbolt copies it at commit)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closing {
			s.wake.Wait()
		}
		if s.closing {
			for _, b := range s.queue {
				b.taken = true
				b.err = fanout.ErrClosed
				close(b.done)
			}
			s.queue = nil
			s.mu.Unlock()
			return
		}
		b := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		b.taken = true
		s.mu.Unlock()

		buf = s.commit(b, buf[:0])
		close(b.done)
		// Let the publishers just released run before taking the next
		// batch: most publish again at once, and join it. Without this
		// the writer, still on its CPU, takes the few Appends queued so
		// far and commits again, and a commit costs tens of
		// microseconds however few it holds (measured: 2 to 7 times the
		// throughput with 16 to 1024 publishers, NoSync or not). With
		// nothing else to run, it returns at once.
		runtime.Gosched()
	}
}

// commit writes b's requests (those not cancelled) as one record after
// the head, trims what the bounds evict (see trim), and commits. On
// success it sets each request's stored message and advances the head; on
// failure no offset is used. It returns the record buffer for reuse.
func (s *Store) commit(b *batch, buf []byte) []byte {
	n := 0
	for i := range b.reqs {
		if !b.reqs[i].cancelled {
			n++
		}
	}
	if n == 0 {
		return buf
	}
	head := s.head.Load()
	first, last := head+1, head+uint64(n)
	now := s.now()
	buf = appendRecord(buf, now, b.reqs)
	oldest := s.oldest
	if oldest.count == 0 {
		oldest = record{first: first, at: now.UnixNano(), count: uint64(n)}
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketLog).Put(offsetKey(first), buf); err != nil {
			return err
		}
		var err error
		oldest, err = s.putHead(tx, oldest, last, now.UnixNano())
		return err
	})
	if err != nil {
		b.err = fmt.Errorf("fanout/bolt: append: %w", err)
		return buf
	}
	off := first
	for i := range b.reqs {
		if r := &b.reqs[i]; !r.cancelled {
			r.stored = r.m.Stored(r.topic, fanout.Position{Epoch: s.epoch, Offset: off})
			off++
		}
	}
	s.oldest = oldest
	s.head.Store(last)
	return buf
}

// putHead writes head, the log's new head, in tx, and trims what the
// bounds evict when a trim is due (see due); it returns the oldest record
// kept, oldest unless it trimmed.
func (s *Store) putHead(tx *bbolt.Tx, oldest record, head uint64, now int64) (record, error) {
	if err := tx.Bucket(bucketMeta).Put(keyHead, offsetKey(head)); err != nil {
		return oldest, err
	}
	if s.due(oldest, head, now) {
		return s.trim(tx, head, now)
	}
	return oldest, nil
}

// due reports whether the log, whose oldest record is oldest and newest
// message head, holds a quarter more than the bounds keep: a quarter
// more messages than MaxCount, or messages older than MaxAge by a
// quarter of it. Trimming then, not at every commit, deletes many records
// in one go, rewriting a few pages rather than some at every commit. Read
// refuses what is out of bounds either way.
func (s *Store) due(oldest record, head uint64, now int64) bool {
	keep := uint64(s.opts.MaxCount)
	if head-oldest.first+1 > keep+keep/4 {
		return true
	}
	age := int64(s.opts.MaxAge)
	return age > 0 && now-oldest.at > age+age/4
}

// trim deletes the oldest records while every message in them is out of
// bounds: not among the MaxCount most recent (head is the newest), or
// older than MaxAge (now in UnixNano). It keeps the newest record, so
// that the log never ends before the head, and returns the oldest record
// kept.
func (s *Store) trim(tx *bbolt.Tx, head uint64, now int64) (record, error) {
	keep, age := uint64(s.opts.MaxCount), int64(s.opts.MaxAge)
	c := tx.Bucket(bucketLog).Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		rec, err := parseRecord(k, v)
		if err != nil {
			return record{}, err
		}
		evicted := head-rec.last() >= keep || age > 0 && now-rec.at > age
		if !evicted || rec.last() == head {
			rec.body = nil // bbolt's memory, valid only in tx
			return rec, nil
		}
		if err := c.Delete(); err != nil {
			return record{}, err
		}
	}
	return record{}, fmt.Errorf("%w: empty log", ErrDamaged)
}
