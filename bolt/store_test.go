package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/bolt"
)

func appendN(t testing.TB, s fanout.ReplayStore, topic string, n int) []*fanout.Message {
	t.Helper()
	out := make([]*fanout.Message, n)
	for i := range out {
		m, err := s.Append(context.Background(), topic, fanout.NewMessage(fmt.Appendf(nil, "%s-%d", topic, i)))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m
	}
	return out
}

func head(t testing.TB, s fanout.ReplayStore) fanout.Position {
	t.Helper()
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A Store reopened on its file has the same epoch, head and messages
// (every field), and goes on from the head.
func TestStore_ReopenKeepsHistory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := head(t, s)
	published := []struct {
		topic string
		m     *fanout.Message
	}{
		{"a", fanout.NewMessage([]byte("text"))},
		{"b", fanout.NewBinaryMessage([]byte{0, 0xff, '\n'})},
		{"", fanout.NewMessage([]byte("to all")).WithEvent("notice")},
		{"a", fanout.NewMessage(nil)},
	}
	var stored []*fanout.Message
	for _, p := range published {
		m, err := s.Append(ctx, p.topic, p.m)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, m)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, path, nil)
	if h := head(t, s); h != stored[len(stored)-1].Position() {
		t.Fatalf("reopened at %s, closed at %s", h.ID(), stored[len(stored)-1].ID())
	}
	read, upTo, err := s.Read(ctx, start, []string{"a", "b"})
	if err != nil || upTo != head(t, s) || len(read) != len(stored) {
		t.Fatalf("Read after reopening: %d messages up to %s, %v", len(read), upTo.ID(), err)
	}
	for i, m := range read {
		w := stored[i]
		if m.ID() != w.ID() || m.Topic() != w.Topic() || m.Type() != w.Type() || m.Event() != w.Event() || string(m.Data()) != string(w.Data()) {
			t.Errorf("message %d read back as %s %q %v %q %q, stored as %s %q %v %q %q", i,
				m.ID(), m.Topic(), m.Type(), m.Event(), m.Data(), w.ID(), w.Topic(), w.Type(), w.Event(), w.Data())
		}
	}
	next := appendN(t, s, "a", 1)[0]
	if want := stored[len(stored)-1].Position().Next(); next.Position() != want {
		t.Fatalf("first Append after reopening at %s, want %s", next.ID(), want.ID())
	}
}

// A new file takes a new epoch, and so does a deleted one recreated: IDs
// of the lost history are refused, so their clients resync.
func TestStore_NewFileNewEpoch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "fanout.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := appendN(t, s, "a", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	other := openStore(t, filepath.Join(dir, "other.db"), nil)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path, nil)
	h := head(t, s)
	if h.Offset != 0 || h.Epoch == old[0].Position().Epoch || h.Epoch == head(t, other).Epoch {
		t.Fatalf("recreated file at %s; old history's epoch %s, another file's %s", h.ID(), old[0].Position().Epoch, head(t, other).Epoch)
	}
	appendN(t, s, "a", 5)
	if _, _, err := s.Read(context.Background(), old[0].Position(), []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Fatalf("Read from %s of the deleted file's history: %v, want ErrUnknownID", old[0].ID(), err)
	}
}

// MaxCount bounds how far back a client resumes: exactly that many
// messages, across topics, across a reopen.
func TestStore_CountBound(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	opts := &bolt.Options{MaxCount: 10}
	s, err := bolt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "a", 20)
	appendN(t, s, "b", 20)
	check := func(s *bolt.Store) {
		t.Helper()
		h := head(t, s)
		from := h
		from.Offset -= 10
		if msgs, _, err := s.Read(context.Background(), from, []string{"a", "b"}); err != nil || len(msgs) != 10 {
			t.Fatalf("Read of the last 10: %d messages, %v", len(msgs), err)
		}
		from.Offset--
		if _, _, err := s.Read(context.Background(), from, []string{"a", "b"}); !errors.Is(err, fanout.ErrUnknownID) {
			t.Fatalf("Read of the last 11: %v, want ErrUnknownID", err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openStore(t, path, opts))
}

// MaxAge evicts by time: a client whose first missed message is older
// resyncs, one whose missed messages are recent does not.
func TestStore_AgeBound(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s, err := bolt.OpenClock(filepath.Join(t.TempDir(), "fanout.db"), &bolt.Options{MaxAge: time.Minute}, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	start := head(t, s)
	old := appendN(t, s, "a", 3)
	now.Add(int64(30 * time.Second))
	if msgs, _, err := s.Read(ctx, start, []string{"a"}); err != nil || len(msgs) != 3 {
		t.Fatalf("Read of 30s old messages: %d, %v", len(msgs), err)
	}
	now.Add(int64(31 * time.Second))
	if _, _, err := s.Read(ctx, start, []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Fatalf("Read of 61s old messages: %v, want ErrUnknownID", err)
	}
	recent := appendN(t, s, "a", 2)
	if msgs, _, err := s.Read(ctx, old[2].Position(), []string{"a"}); err != nil || len(msgs) != 2 || msgs[0].ID() != recent[0].ID() {
		t.Fatalf("Read of the recent messages: %d, %v", len(msgs), err)
	}
	now.Add(int64(2 * time.Minute)) // everything expired: the head stays
	if msgs, upTo, err := s.Read(ctx, recent[1].Position(), []string{"a"}); err != nil || len(msgs) != 0 || upTo != recent[1].Position() {
		t.Fatalf("Read from the head after expiry: %d, %s, %v", len(msgs), upTo.ID(), err)
	}
	if next := appendN(t, s, "a", 1)[0]; next.Position() != recent[1].Position().Next() {
		t.Fatalf("Append after expiry at %s, want %s", next.ID(), recent[1].Position().Next().ID())
	}
}

// An Append whose context ends either fails with the context's error and
// uses no offset, or succeeds: offsets stay dense, and the log holds
// exactly the Appends that succeeded. Contexts end before the Append and
// at random points during it, so that both happen.
func TestStore_AppendCanceled(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "fanout.db"), nil)
	start := head(t, s)
	var (
		mu       sync.Mutex
		ok       []string
		canceled atomic.Int64 // Appends that returned the context's error
		wg       sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				ctx, cancel := context.WithCancel(context.Background())
				switch i % 3 {
				case 0:
					cancel()
				case 1:
					wg.Go(func() {
						for range rand.IntN(100) {
							runtime.Gosched()
						}
						cancel()
					})
				}
				data := fmt.Sprintf("%d-%d", g, i)
				m, err := s.Append(ctx, "a", fanout.NewMessage([]byte(data)))
				cancel()
				switch {
				case err == nil:
					mu.Lock()
					ok = append(ok, data+"@"+m.ID())
					mu.Unlock()
				case errors.Is(err, context.Canceled):
					canceled.Add(1)
				default:
					t.Errorf("Append: %v", err)
				}
			}
		})
	}
	wg.Wait()
	msgs, upTo, err := s.Read(context.Background(), start, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if upTo.Offset != uint64(len(ok)) || len(msgs) != len(ok) {
		t.Fatalf("%d Appends succeeded; the log holds %d messages up to %s", len(ok), len(msgs), upTo.ID())
	}
	t.Logf("of 400 Appends, 272 with a context canceled before or during: %d succeeded, %d canceled", len(ok), canceled.Load())
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Data())+"@"+m.ID())
	}
	slices.Sort(got)
	slices.Sort(ok)
	if !slices.Equal(got, ok) {
		t.Fatalf("the log holds %q, the successful Appends were %q", got, ok)
	}
}

// Close is idempotent and safe concurrently; Appends racing it either
// succeed (and are in the file) or fail with ErrClosed; after it, every
// method returns ErrClosed.
func TestStore_Close(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var succeeded atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				_, err := s.Append(ctx, "a", fanout.NewMessage([]byte("x")))
				if errors.Is(err, fanout.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				succeeded.Add(1)
			}
		})
	}
	appendN(t, s, "b", 1) // the publishers are running
	succeeded.Add(1)
	for range 3 {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	if _, err := s.Append(ctx, "a", fanout.NewMessage(nil)); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, _, err := s.Read(ctx, fanout.Position{}, nil); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Head after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s = openStore(t, path, nil)
	if h := head(t, s); h.Offset != uint64(succeeded.Load()) {
		t.Fatalf("reopened at %s after %d successful Appends", h.ID(), succeeded.Load())
	}
}

// Only one process (or Store) has a file open at a time.
func TestStore_FileLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	openStore(t, path, nil)
	if s, err := bolt.Open(path, &bolt.Options{LockTimeout: 20 * time.Millisecond}); !errors.Is(err, bolt.ErrLocked) {
		if err == nil {
			_ = s.Close()
		}
		t.Fatalf("a second Open of an open file: %v, want ErrLocked", err)
	}
}
