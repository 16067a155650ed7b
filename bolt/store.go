package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configures a Store. The zero value is a good default: every
// Append durable when it returns, concurrent Appends sharing one fsync.
type Options struct {
	// MaxCount is how many messages the store keeps, across all topics: a
	// client that missed more (of all topics) resyncs. Older messages are
	// deleted from the file as new ones arrive. Defaults to 100000.
	MaxCount int

	// MaxAge, if positive, also evicts messages older than this: a client
	// that was away longer resyncs instead of receiving a stale backlog.
	// Defaults to 0 (no age limit).
	MaxAge time.Duration

	// MaxBatch is how many concurrent Appends may share one transaction
	// and its fsync (group commit). 1 commits and syncs each Append on its
	// own: the same guarantee, at one fsync per publish. Defaults to 1024.
	MaxBatch int

	// NoSync skips fsync: an Append returns once its transaction is in the
	// operating system's page cache. That survives the process being
	// killed, not the machine crashing or losing power (see the package
	// documentation). Defaults to false.
	NoSync bool

	// SyncWindow, if positive, lets an Append return once its message is
	// in the store's memory (Reads see it at once), and commits and fsyncs
	// what accumulated at most SyncWindow later, in one transaction, like
	// Redis's "appendfsync everysec": a crash loses at most the last
	// SyncWindow (plus the commit under way). After a session with a
	// window ends without Close, the next Open starts a new epoch, keeping
	// the log: every client resyncs once, none resumes past what was lost
	// (see the package documentation). Close commits what is left.
	// MaxBatch then bounds the messages of one record, not of a commit.
	// With NoSync as well, the commits are not fsynced either.
	// Defaults to 0: an Append returns once its message is committed.
	SyncWindow time.Duration

	// LockTimeout is how long Open waits for another process to release
	// the file (bbolt locks it while open) before failing with ErrLocked.
	// Defaults to 1s.
	LockTimeout time.Duration
}

// Store is a fanout.ReplayStore kept in a bbolt file: the history survives
// a restart of the process, graceful or not, and a client that reconnects
// with the ID of the last message it received gets exactly what it missed.
//
// All topics share one log, as in fanout.Ring: a client subscribed to
// several topics resumes them all from one ID. Its IDs look like
// "k2f9w-42": the file's epoch, drawn when the file is created, and a
// dense offset. The epoch stays the same as long as the file keeps its
// history, and changes when it does not (a new or deleted file, an
// unclean end under NoSync that may have lost writes, or one of a session
// with a SyncWindow): old IDs then resync instead of resuming against
// another history.
//
// A Store is safe for concurrent use. Concurrent Appends are written in
// one transaction by the Store's writer goroutine, which Close stops.
type Store struct {
	db    *bbolt.DB
	path  string
	epoch string
	opts  Options
	now   func() time.Time

	head   atomic.Uint64 // offset of the last message committed
	oldest record        // the first record of the log (no body); the writer's, once started

	mu      sync.Mutex
	wake    *sync.Cond
	queue   []*batch // not yet taken by the writer; the last one may be open
	closing bool
	stop    chan struct{} // closed by Close
	exited  chan struct{} // closed when the writer has returned

	// With a SyncWindow (see window.go), under mu:
	assigned uint64            // offset of the last message appended
	pending  []*fanout.Message // appended after flushing, in order
	flushing []*fanout.Message // being committed by the writer, after the head
	syncErr  error             // the writer's last commit's error

	closeOnce sync.Once
	closeErr  error
}

var _ fanout.ReplayStore = (*Store)(nil)

// Open opens the store in the bbolt file at path, creating it if need be
// (a missing or empty file is a new store), configured by opts (nil for
// defaults). Close the Store when done.
//
// Only one process may have the file open at a time: Open fails with an
// error wrapping ErrLocked after LockTimeout if another holds it. On a
// damaged file (not a bbolt file, cut short, pages overwritten, or not
// this package's layout) it fails with an error wrapping ErrDamaged,
// never a panic: it reads every page in use before bbolt does, which
// costs a read of the file's live pages at each Open.
func Open(path string, opts *Options) (*Store, error) {
	return open(path, opts, time.Now)
}

func open(path string, opts *Options, now func() time.Time) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxCount <= 0 {
		o.MaxCount = 100_000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	fail := func(err error) (*Store, error) { return nil, fmt.Errorf("fanout/bolt: open %s: %w", path, err) }
	unclean, err := windowMarked(path) // before dropUnsynced, which may delete the file, not the mark
	if err != nil {
		return fail(err)
	}
	if err := dropUnsynced(path, o.LockTimeout); err != nil {
		return fail(err)
	}
	if err := checkFile(path, o.LockTimeout); err != nil { // before bbolt walks the pages: see check.go
		return fail(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        o.LockTimeout,
		NoFreelistSync: true, // rebuilt at open; one page less to write per commit
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		err = locked(o.LockTimeout)
	}
	if err != nil {
		return fail(err)
	}
	s := &Store{db: db, path: path, opts: o, now: now, stop: make(chan struct{}), exited: make(chan struct{})}
	s.wake = sync.NewCond(&s.mu)
	if o.NoSync {
		err = writeMark(path) // before the session's first unsynced write
	}
	if err == nil {
		err = s.load(unclean)
	}
	if err == nil && !o.NoSync {
		err = clearMark(db, path) // a NoSync session of this boot died: its writes are synced now
	}
	switch {
	case err != nil:
	case o.SyncWindow > 0 && !unclean:
		err = writeWindowMark(path) // before the session's first Append
	case o.SyncWindow <= 0 && unclean:
		err = os.Remove(windowMarkPath(path)) // load's new epoch is committed
	}
	if err != nil {
		_ = db.Close()
		return fail(err)
	}
	db.NoSync = o.NoSync // load's transaction was synced, whatever the option
	s.assigned = s.head.Load()
	if o.SyncWindow > 0 {
		go s.runWindow()
	} else {
		go s.run()
	}
	return s, nil
}

// Append stores m as published to topic and returns the copy to deliver,
// carrying its position. It returns once the transaction that holds it is
// committed (and synced, without NoSync), with the Appends made meanwhile
// by other goroutines.
//
// If ctx ends before the message is taken into a transaction, Append
// returns ctx's error and uses no offset. Once taken, it waits for the
// commit, which is bounded by the disk, not by ctx: an Append never fails
// after its offset was assigned.
//
// With a SyncWindow, Append returns once the message is in memory, and
// the writer commits it within the window.
func (s *Store) Append(ctx context.Context, topic string, m *fanout.Message) (*fanout.Message, error) {
	if s.opts.SyncWindow > 0 {
		return s.appendWindow(ctx, topic, m)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, fanout.ErrClosed
	}
	b, i := s.enqueue(topic, m)
	s.mu.Unlock()

	select {
	case <-b.done:
	case <-ctx.Done():
		s.mu.Lock()
		if !b.taken {
			b.reqs[i].cancelled = true
			s.mu.Unlock()
			return nil, ctx.Err()
		}
		s.mu.Unlock()
		<-b.done
	}
	if b.err != nil {
		return nil, b.err
	}
	return b.reqs[i].stored, nil
}

// Head returns the position of the last message stored.
func (s *Store) Head(context.Context) (fanout.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return fanout.Position{}, fanout.ErrClosed
	}
	if s.opts.SyncWindow > 0 {
		return fanout.Position{Epoch: s.epoch, Offset: s.assigned}, nil
	}
	return fanout.Position{Epoch: s.epoch, Offset: s.head.Load()}, nil
}

// Read returns the messages after from published to any of topics or
// broadcast, and the head it read up to. It fails with an error wrapping
// fanout.ErrUnknownID when from is not a position of this file's history
// (another store's, one from before the file was recreated, or not
// assigned yet), or when messages after it were evicted (by MaxCount or
// MaxAge), and with one wrapping ErrDamaged on a record that does not
// follow the layout.
func (s *Store) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	return s.ReadPage(ctx, from, topics, fanout.ReadLimit{})
}

// ReadPage is Read, stopping once the page is full (see
// fanout.PageReader): a Hub reads a resuming client's history a page at a
// time, so that what the client holds is a page of copies, not its whole
// history.
func (s *Store) ReadPage(ctx context.Context, from fanout.Position, topics []string, limit fanout.ReadLimit) ([]*fanout.Message, fanout.Position, error) {
	if s.isClosing() {
		return nil, fanout.Position{}, fanout.ErrClosed
	}
	if from.Epoch != s.epoch || from.Partition != 0 {
		return nil, fanout.Position{}, fmt.Errorf("%w: not a position of this store", fanout.ErrUnknownID)
	}
	if err := ctx.Err(); err != nil {
		return nil, fanout.Position{}, err
	}
	var out []*fanout.Message
	var head uint64
	var err error
	if s.opts.SyncWindow > 0 {
		out, head, err = s.readWindow(from.Offset, topics, limit)
	} else {
		err = s.db.View(func(tx *bbolt.Tx) error {
			var err error
			out, head, err = s.read(tx, from.Offset, topics, limit)
			return err
		})
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = fanout.ErrClosed
	}
	if err != nil {
		return nil, fanout.Position{}, err
	}
	return out, fanout.Position{Epoch: s.epoch, Offset: head}, nil
}

// Close fails the Appends not yet taken into a transaction with
// fanout.ErrClosed, waits for the one being committed, and closes the
// file. With a SyncWindow, it commits and syncs every message appended
// (or returns the error that prevented it). It is idempotent and safe to call concurrently; every call
// returns the first's result. Methods called after Close return
// fanout.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.wake.Signal()
		s.mu.Unlock()
		close(s.stop)
		<-s.exited
		s.closeErr = s.finish()
	})
	return s.closeErr
}

func (s *Store) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}
