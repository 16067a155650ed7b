package bolt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// load reads (or, for a new file, writes) the log's epoch and head in one
// synced transaction. A file without an epoch is new: it starts a new
// one, with an empty log, so that IDs of any history before (a deleted
// file's) resync. With newEpoch (a session with a window ended without
// Close: see window.go), the log is kept in a new epoch.
func (s *Store) load(newEpoch bool) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil && (len(v) != 1 || v[0] != layoutVersion) {
			return fmt.Errorf("%w: layout version %x, want %d", ErrDamaged, v, layoutVersion)
		}
		if meta.Get(keyEpoch) == nil {
			if err := s.reset(tx, meta); err != nil {
				return err
			}
		} else if newEpoch {
			if err := meta.Put(keyEpoch, []byte(newEpochName())); err != nil {
				return err
			}
		}
		return s.check(tx, meta)
	})
	if errors.Is(err, berrors.ErrIncompatibleValue) { // a bucket of the layout is a key
		err = fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return err
}

// reset starts a new epoch with an empty log.
func (s *Store) reset(tx *bbolt.Tx, meta *bbolt.Bucket) error {
	if err := tx.DeleteBucket(bucketLog); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	if _, err := tx.CreateBucket(bucketLog); err != nil {
		return err
	}
	epoch := newEpochName()
	for _, kv := range [][2][]byte{
		{keyVersion, {layoutVersion}},
		{keyEpoch, []byte(epoch)},
		{keyHead, offsetKey(0)},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// newEpochName draws an epoch.
func newEpochName() string { return strconv.FormatUint(rand.Uint64()>>(64-48), 36) }

// check reads the epoch, head and oldest record into s, and checks that
// the log ends at the head (trimming keeps its newest record).
func (s *Store) check(tx *bbolt.Tx, meta *bbolt.Bucket) error {
	s.epoch = string(meta.Get(keyEpoch))
	head, ok := keyOffset(meta.Get(keyHead))
	log := tx.Bucket(bucketLog)
	if !validEpoch(s.epoch) || !ok || log == nil {
		return fmt.Errorf("%w: meta", ErrDamaged)
	}
	c := log.Cursor()
	if k, v := c.Last(); k != nil {
		rec, err := parseRecord(k, v)
		if err != nil {
			return err
		}
		if rec.last() != head {
			return fmt.Errorf("%w: log ends at %d, head %d", ErrDamaged, rec.last(), head)
		}
		k, v = c.First()
		if s.oldest, err = parseRecord(k, v); err != nil {
			return err
		}
		s.oldest.body = nil
	} else if head != 0 {
		return fmt.Errorf("%w: empty log, head %d", ErrDamaged, head)
	}
	s.head.Store(head)
	return nil
}

// validEpoch reports whether e is an epoch fanout.ParseID reads back.
func validEpoch(e string) bool {
	if e == "" || len(e) > 32 {
		return false
	}
	for _, c := range []byte(e) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

// finish makes a NoSync session's writes durable and removes its mark (see
// nosync.go), then closes the file.
func (s *Store) finish() error {
	err := s.syncErr // the writer has returned: nothing else uses db, nor syncErr
	if s.opts.NoSync {
		err = errors.Join(err, clearMark(s.db, s.path))
	}
	if s.opts.SyncWindow > 0 && err == nil { // everything appended is synced
		err = os.Remove(windowMarkPath(s.path))
	}
	if err := errors.Join(err, s.db.Close()); err != nil {
		return fmt.Errorf("fanout/bolt: close %s: %w", s.path, err)
	}
	return nil
}
