package redis_test

import (
	"strconv"
	"testing"

	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// series returns prefix+"1" ... prefix+n.
func series(prefix string, from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, prefix+strconv.Itoa(i))
	}
	return s
}

// expectAfterRollback reads from f the messages it had before Redis went
// back (before, in order), then the resync signal, then a run of
// consecutive messages of after that ends with its last: after a
// rollback, a subscriber may miss messages only behind a resync signal,
// and gets none twice. It returns the last message's ID.
func expectAfterRollback(t *testing.T, f *feed, before, after []string) string {
	t.Helper()
	f.expect(t, before...)
	index := make(map[string]int, len(after))
	for i, d := range after {
		index[d] = i
	}
	prev, resynced := -1, false
	for {
		r := f.next(t)
		if r.resync {
			resynced = true
			continue
		}
		i, ok := index[r.data]
		switch {
		case !ok:
			t.Fatalf("%s: got %q after the rollback, want one of %q..%q", f.name, r.data, after[0], after[len(after)-1])
		case prev < 0 && !resynced:
			t.Fatalf("%s: got %q after the rollback without a resync signal: the messages that reused the lost offsets were taken for the old ones", f.name, r.data)
		case i <= prev:
			t.Fatalf("%s: got %q again (or out of order) after %q", f.name, r.data, after[prev])
		case i != prev+1 && !resynced:
			t.Fatalf("%s: a silent gap: %q after %q, with no resync signal", f.name, r.data, after[prev])
		}
		prev, resynced = i, false
		if i == len(after)-1 {
			return r.id
		}
	}
}

// publishAfter publishes n1..n40 through pub after the data set went
// back, then, once every one of nodes has sent its subscribers the resync
// signal (a node may find the new epoch after some or all of n1..n40 were
// published: those are then behind the signal), "end", so that every
// subscriber's records after the rollback end with it. It returns what
// it published.
func publishAfter(t *testing.T, pub *node, nodes []*node) []string {
	t.Helper()
	after := series("n", 1, 40)
	publishAll(t, pub, "a", after...)
	eventually(t, func() bool {
		for _, n := range nodes {
			if n.eng.Stats().Resyncs == 0 {
				return false
			}
		}
		return true
	}, "every node sends its subscribers the resync signal")
	publishAll(t, pub, "a", "end")
	return append(after, "end")
}

// checkRolledBack checks that the ID of a message Redis lost (whose
// offset was used again) makes a client resuming from it resync, on each
// of nodes, and that Stats counted a new epoch on each of counted.
func checkRolledBack(t *testing.T, lostID string, nodes []*node, counted []*node) {
	t.Helper()
	for _, n := range nodes {
		f := openFeed(t, n, kindWS, []string{"a"}, lostID)
		f.expectResync(t)
	}
	for _, n := range counted {
		if st := n.eng.Stats(); st.Epochs == 0 || st.Resyncs == 0 {
			t.Errorf("%s: %+v; want a new epoch found and a resync", n.name, st)
		}
	}
}

// rollbackScene opens a WebSocket and an SSE feed of topic "a" on each
// of nodes, publishes 50 messages through the first, calling keep after
// the 20th (a snapshot, a replica's link frozen: what the fault will go
// back to), and checks that every feed got all 50. It returns the feeds
// and the ID of message 35, which the fault will lose.
func rollbackScene(t *testing.T, nodes []*node, keep func()) ([]*feed, string) {
	t.Helper()
	var feeds []*feed
	for _, n := range nodes {
		feeds = append(feeds, openFeed(t, n, kindWS, []string{"a"}, ""), openFeed(t, n, kindSSERaw, []string{"a"}, ""))
	}
	old := series("", 1, 50)
	publishAll(t, nodes[0], "a", old[:20]...)
	keep()
	publishAll(t, nodes[0], "a", old[20:]...)
	var lostID string
	for _, f := range feeds {
		f.expect(t, old[:34]...)
		lostID = f.expect(t, old[34])
		f.expect(t, old[35:]...)
	}
	return feeds, lostID
}

// TestFault_SnapshotRollback: Redis is killed and restarts from a
// snapshot older than what was published (RDB, or an AOF that lost its
// last second): the head of the partition goes back from 50 to 20, in
// the same epoch, and the next messages take offsets 21 on. Every
// subscriber of both nodes gets the resync signal (not the new messages
// as if they followed the old ones), and a client resuming from the ID
// of a lost message resyncs, on a node that saw the rollback and on one
// that started after it.
func TestFault_SnapshotRollback(t *testing.T) {
	srv := redistest.Start(t)
	ev := &nodeEvents{}
	opts := fastChecks
	opts.Prefix = newPrefix()
	nodes := []*node{startNode(t, "node0", &opts, ev, srv.Addr()), startNode(t, "node1", &opts, ev, srv.Addr())}
	feeds, lostID := rollbackScene(t, nodes, func() {
		srv.Save()
	})

	srv.Restart() // from the snapshot of message 20
	// command; a publisher with fresh ones is not held up by that.
	after := publishAfter(t, startNode(t, "pub", &opts, ev, srv.Addr()), nodes)
	for _, f := range feeds {
		expectAfterRollback(t, f, nil, after)
	}
	fresh := startNode(t, "fresh", &opts, ev, srv.Addr())
	checkRolledBack(t, lostID, []*node{nodes[0], fresh}, nodes)
}

// TestFault_RollbackInPlace: the data set goes back while Redis keeps
// running (DEBUG RELOAD NOSAVE loads an older dump in the same process:
// its run_id does not change). The nodes, which saw offset 50, find the
// head at 20: they start a new epoch, so the messages that follow are
// not taken for the lost ones, by them or by a node that never saw the
// rollback.
func TestFault_RollbackInPlace(t *testing.T) {
	srv := redistest.Start(t, "--enable-debug-command", "yes")
	ev := &nodeEvents{}
	opts := fastChecks
	opts.Prefix = newPrefix()
	nodes := []*node{startNode(t, "node0", &opts, ev, srv.Addr()), startNode(t, "node1", &opts, ev, srv.Addr())}
	feeds, lostID := rollbackScene(t, nodes, func() {
		srv.Save()
	})
	if _, err := srv.Do("DEBUG", "RELOAD", "NOSAVE"); err != nil {
		t.Fatal(err)
	}
	after := publishAfter(t, nodes[1], nodes)
	for _, f := range feeds {
		expectAfterRollback(t, f, nil, after)
	}
	fresh := startNode(t, "fresh", &opts, ev, srv.Addr())
	checkRolledBack(t, lostID, []*node{nodes[0], fresh}, nodes)
}
