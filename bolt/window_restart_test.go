package bolt_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// TestWindow_SIGKILL is the durability window's promise, for real: a
// child process publishes through a Hub over a Store with a SyncWindow
// (childWindow), a witness receiving everything, and is killed with
// SIGKILL. The test then reopens the file and checks that:
//
//   - every message the witness had received windowMargin plus the window
//     before the kill is in the store, at its position, with its data,
//     and so is every message up to the store's head;
//   - the store is in a new epoch, so that a client holding any ID of the
//     first life resyncs, even once the second life has published past
//     it: none resumes past what was lost.
func TestWindow_SIGKILL(t *testing.T) {
	t.Parallel()
	const (
		windowMargin = time.Second // the commit and its fsync, on a busy machine
		run          = windowMargin + childWindow + 1500*time.Millisecond
	)
	path := filepath.Join(t.TempDir(), "fanout.db")
	first := startChild(t, path, "window")
	witness := dial(t, "witness", first.base, true, []string{"a", "b"}, "", 0)
	first.send(t, "publish")

	var seen []rec
	var at []time.Time // when the test took seen[i]: after its Append returned
	start := time.Now()
	for time.Since(start) < run {
		seen = append(seen, witness.take(t, 1)...)
		at = append(at, time.Now())
	}
	killed := time.Now() // the kill comes after
	first.kill(t)
	witness.close()
	for i, r := range seen {
		if offsetOf(t, r.id) != uint64(i+1) {
			t.Fatalf("the witness's message %d is %v: positions must be dense from 1", i, r)
		}
	}
	checkCounters(t, "witness", seen, nil)
	old := 0 // seen[:old] were received a window and the margin before the kill
	for old < len(at) && killed.Sub(at[old]) > childWindow+windowMargin {
		old++
	}

	store, hub, srv := serveStore(t, path, settings["window"])
	ctx := context.Background()

	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Epoch == epochOf(t, seen[0].id) {
		t.Fatalf("reopened in the first life's epoch (%s) after an unclean end", head.ID())
	}
	if head.Offset < uint64(old) {
		t.Fatalf("reopened at %d; the witness received %d messages more than %v before the kill: lost within the promise",
			head.Offset, old, childWindow+windowMargin)
	}
	kept, _, err := store.Read(ctx, fanout.Position{Epoch: head.Epoch}, []string{"a", "b"})
	if err != nil || uint64(len(kept)) != head.Offset {
		t.Fatalf("Read of the whole log: %d messages, %v; head %d", len(kept), err, head.Offset)
	}
	n := min(len(kept), len(seen))
	for i := range n {
		if got, want := string(kept[i].Data()), seen[i].data; got != want {
			t.Fatalf("the store's message %d is %q; the witness received %q", i+1, got, want)
		}
	}
	checkCounters(t, "the store's tail", toRecs(kept[n:], []string{"a", "b"}), seen[:n])
	t.Logf("witness received %d (%d before the window and margin); the store kept %d; %d delivered were lost",
		len(seen), old, len(kept), len(seen)-n)

	// The second life publishes past every first-life ID, then clients
	// holding the witness's last ID (past what was lost) and first come
	// back: both resync.
	for i := range len(seen) - len(kept) + 10 {
		m := fanout.NewMessage([]byte("r-" + strconv.Itoa(i)))
		if err := publish(hub, childTopics[i%len(childTopics)], m); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{seen[len(seen)-1].id, seen[0].id} {
		for _, ws := range []bool{true, false} {
			c := dial(t, "back", srv.URL, ws, []string{"a", "b"}, id, 0)
			if r := c.take(t, 1)[0]; !r.resync {
				t.Fatalf("a client back with %s (ws %v) got %v, want the resync signal", id, ws, r)
			}
			c.close()
		}
	}
}
