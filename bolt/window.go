package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fanout-go/fanout"
	bbolt "go.etcd.io/bbolt"
)

// The durability window (Options.SyncWindow > 0), like Redis's
// "appendfsync everysec": an Append gives its message the next offset,
// keeps it in memory (Reads see it at once) and returns; the writer
// commits and fsyncs whatever accumulated, in one transaction, SyncWindow
// after the oldest of it. A crash loses at most the last window.
//
// Subscribers may have received, with their IDs, messages that the crash
// lost. Were the next session to go on in the same epoch, it would give
// those offsets to new messages, and a client holding a lost ID would
// resume silently wrong. So a session with a window marks the file with
// PATH.window (created and synced before its first Append; removed by
// Close once everything is synced), and an Open that finds the mark
// starts a new epoch, keeping the log: every client resyncs once. The
// store cannot tell afterwards whether the crash lost anything, so it
// does so after every unclean end of such a session.

func windowMarkPath(path string) string { return path + ".window" }

// windowMarked reports whether a session with a window left its mark.
func windowMarked(path string) (bool, error) {
	_, err := os.Stat(windowMarkPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// writeWindowMark marks the file at path as open by a session with a
// window, durably.
func writeWindowMark(path string) error {
	f, err := os.Create(windowMarkPath(path))
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// appendWindow is Append with a window: the message is the log's at once.
func (s *Store) appendWindow(ctx context.Context, topic string, m *fanout.Message) (*fanout.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, fanout.ErrClosed
	}
	s.assigned++
	stored := m.Stored(topic, fanout.Position{Epoch: s.epoch, Offset: s.assigned})
	if len(s.pending) == 0 {
		s.wake.Signal()
	}
	s.pending = append(s.pending, stored)
	return stored, nil
}

// runWindow is the writer goroutine with a window: it waits for an
// Append, then SyncWindow (or Close), and commits all that accumulated.
// After Close it commits what is left and returns. A failed commit keeps
// its messages for the next one; Close reports the failure.
func (s *Store) runWindow() {
	defer close(s.exited)
	var buf []byte
	var reqs []request
	for {
		s.mu.Lock()
		for len(s.pending) == 0 && !s.closing {
			s.wake.Wait()
		}
		closing := s.closing
		s.mu.Unlock()
		if !closing {
			t := time.NewTimer(s.opts.SyncWindow)
			select {
			case <-t.C:
			case <-s.stop:
			}
			t.Stop()
		}

		s.mu.Lock()
		ms := s.pending
		s.flushing, s.pending = ms, nil
		closing = s.closing // then no Append comes after ms
		s.mu.Unlock()

		var err error
		buf, reqs, err = s.commitWindow(ms, buf[:0], reqs[:0])
		s.mu.Lock()
		s.flushing = nil
		s.syncErr = err
		if err != nil {
			s.pending = append(ms, s.pending...)
		}
		s.mu.Unlock()
		if closing {
			return
		}
	}
}

// commitWindow writes ms, the messages after the head, as records of at
// most MaxBatch messages and maxBatchBytes each, in one transaction,
// trims what the bounds evict, and commits.
func (s *Store) commitWindow(ms []*fanout.Message, buf []byte, reqs []request) ([]byte, []request, error) {
	if len(ms) == 0 {
		return buf, reqs, nil
	}
	head := s.head.Load()
	last := head + uint64(len(ms))
	if ms[0].Position().Offset != head+1 {
		return buf, reqs, fmt.Errorf("fanout/bolt: sync: message at %d after head %d", ms[0].Position().Offset, head)
	}
	now := s.now()
	oldest := s.oldest
	err := s.db.Update(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		for first := 0; first < len(ms); {
			reqs = reqs[:0]
			bytes := 0
			for _, m := range ms[first:] {
				if len(reqs) > 0 && (len(reqs) >= s.opts.MaxBatch || bytes+m.Len() > maxBatchBytes) {
					break
				}
				reqs = append(reqs, request{topic: m.Topic(), m: m})
				bytes += m.Len()
			}
			buf = appendRecord(buf[:0], now, reqs)
			if err := log.Put(offsetKey(head+uint64(first)+1), buf); err != nil {
				return err
			}
			if oldest.count == 0 {
				oldest = record{first: head + 1, at: now.UnixNano(), count: uint64(len(reqs))}
			}
			first += len(reqs)
		}
		clear(reqs) // the messages stay referenced otherwise
		var err error
		oldest, err = s.putHead(tx, oldest, last, now.UnixNano())
		return err
	})
	if err != nil {
		return buf, reqs, fmt.Errorf("fanout/bolt: sync: %w", err)
	}
	s.oldest = oldest
	s.head.Store(last)
	return buf, reqs, nil
}

// readWindow is ReadPage with a window: the log in the file, then the
// messages in memory after it.
func (s *Store) readWindow(from uint64, topics []string, limit fanout.ReadLimit) ([]*fanout.Message, uint64, error) {
	// Taken before the file's transaction: what the writer commits in
	// between is in both, and is taken from the file.
	s.mu.Lock()
	flushing, pending, assigned := s.flushing, s.pending, s.assigned
	s.mu.Unlock()
	switch {
	case from > assigned:
		return nil, 0, fmt.Errorf("%w: not assigned yet", fanout.ErrUnknownID)
	case assigned-from > uint64(s.opts.MaxCount):
		return nil, 0, fmt.Errorf("%w: %d messages missed, more than the store keeps", fanout.ErrUnknownID, assigned-from)
	}
	var out []*fanout.Message
	var head uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		fileHead, ok := keyOffset(tx.Bucket(bucketMeta).Get(keyHead))
		if !ok {
			return fmt.Errorf("%w: no head", ErrDamaged)
		}
		head = max(from, fileHead)
		if from >= fileHead {
			return nil
		}
		var err error
		out, head, err = s.read(tx, from, topics, limit)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	bytes := 0
	for _, m := range out {
		bytes += m.Len()
	}
	if limit.Full(len(out), bytes) {
		return out, head, nil
	}
	for _, ms := range [2][]*fanout.Message{flushing, pending} {
		for _, m := range ms {
			off := m.Position().Offset
			if off <= head {
				continue
			}
			head = off
			if _, ok := match([]byte(m.Topic()), topics); !ok {
				continue
			}
			out = append(out, m)
			bytes += m.Len()
			if limit.Full(len(out), bytes) {
				return out, head, nil
			}
		}
	}
	return out, head, nil
}
