package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
)

// TestWindow_ReadsUnsynced: with a window, an Append returns before its
// commit, and Head, Read and ReadPage see its message at once, after the
// file's messages; Close commits it, in the same epoch.
func TestWindow_ReadsUnsynced(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	s := mustOpen(t, path, nil)
	synced := publishN(t, s, 3) // in the file
	mustClose(t, s)

	s = mustOpen(t, path, &Options{SyncWindow: time.Hour})
	ctx := context.Background()
	for i := range 5 {
		topic := []string{"a", "b"}[i%2]
		if _, err := s.Append(ctx, topic, fanout.NewMessage(fmt.Append(nil, "w", i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.head.Load(); got != 3 {
		t.Fatalf("the file's head is %d with a window of an hour, want 3: committed before the window", got)
	}
	head, err := s.Head(ctx)
	if err != nil || head.Offset != 8 || head.Epoch != synced.Epoch {
		t.Fatalf("Head = %v, %v; want offset 8 in epoch %s", head, err, synced.Epoch)
	}
	all, to, err := s.Read(ctx, fanout.Position{Epoch: synced.Epoch}, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := datas(all), "0 1 2 w0 w2 w4"; got != want || to.Offset != 8 {
		t.Fatalf("Read from 0 on a: %q up to %d, want %q up to 8", got, to.Offset, want)
	}
	// Pages across the file and memory, and from inside memory.
	for _, c := range []struct {
		from, n  uint64
		want     string
		wantHead uint64
	}{
		{1, 3, "1 2 w0", 4},
		{2, 1, "2", 3},
		{4, 1, "w1", 5},
		{5, 0, "w2 w3 w4", 8},
		{8, 0, "", 8},
	} {
		got, to, err := s.ReadPage(ctx, fanout.Position{Epoch: synced.Epoch, Offset: c.from}, []string{"a", "b"}, fanout.ReadLimit{Messages: int(c.n)})
		if err != nil || datas(got) != c.want || to.Offset != c.wantHead {
			t.Fatalf("ReadPage(%d, %d) = %q up to %d, %v; want %q up to %d", c.from, c.n, datas(got), to.Offset, err, c.want, c.wantHead)
		}
	}
	if _, _, err := s.Read(ctx, fanout.Position{Epoch: synced.Epoch, Offset: 9}, nil); err == nil {
		t.Fatal("Read from 9 after head 8: no error")
	}
	mustClose(t, s)

	s = mustOpen(t, path, nil) // Close synced it all: no new epoch
	defer mustClose(t, s)
	all, _, err = s.Read(ctx, fanout.Position{Epoch: synced.Epoch}, []string{"a", "b"})
	if err != nil || datas(all) != "0 1 2 w0 w1 w2 w3 w4" {
		t.Fatalf("after Close, Read = %q, %v", datas(all), err)
	}
}

// TestWindow_CommitsWithinWindow: without Close, the writer commits an
// Append's message within the window.
func TestWindow_CommitsWithinWindow(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, filepath.Join(t.TempDir(), "fanout.db"), &Options{SyncWindow: 20 * time.Millisecond})
	defer mustClose(t, s)
	for round := uint64(1); round <= 3; round++ {
		start := time.Now()
		publishN(t, s, 10)
		testkit.Spin(t, 10*time.Second, func() bool { return s.head.Load() == 10*round }, "the commit")
		t.Logf("round %d committed after %v", round, time.Since(start))
	}
}

// TestWindow_UncleanEndNewEpoch: a session with a window that ends without
// Close leaves its mark, and the next Open keeps the log in a new epoch.
func TestWindow_UncleanEndNewEpoch(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	s := mustOpen(t, path, &Options{SyncWindow: time.Millisecond})
	old := publishN(t, s, 4)
	testkit.Spin(t, 10*time.Second, func() bool { return s.head.Load() == 4 }, "the commit")
	s.closeWriter()  // as if the process died: the file is not closed by Close
	_ = s.db.Close() // bbolt's lock, which the process's end would drop
	if ok, _ := windowMarked(path); !ok {
		t.Fatal("no mark left by a session with a window")
	}
	s = mustOpen(t, path, nil)
	head, err := s.Head(context.Background())
	if err != nil || head.Epoch == old.Epoch || head.Offset != 4 {
		t.Fatalf("reopened at %v (%v), before at %v: want offset 4 in a new epoch", head, err, old)
	}
	if _, _, err := s.Read(context.Background(), old, nil); err == nil {
		t.Fatal("a position of the old epoch resumes")
	}
	mustClose(t, s)
	if ok, _ := windowMarked(path); ok {
		t.Fatal("mark left after a session without a window")
	}
	s = mustOpen(t, path, nil)
	defer mustClose(t, s)
	if again, _ := s.Head(context.Background()); again != head {
		t.Fatalf("a clean end changed the position: %v, then %v", head, again)
	}
}

func datas(ms []*fanout.Message) string {
	out := ""
	for i, m := range ms {
		if i > 0 {
			out += " "
		}
		out += string(m.Data())
	}
	return out
}

// closeWriter stops s's writer as Close does, and nothing else: the
// mark stays, as when the process dies.
func (s *Store) closeWriter() {
	s.mu.Lock()
	s.closing = true
	s.wake.Signal()
	s.mu.Unlock()
	close(s.stop)
	<-s.exited
}
