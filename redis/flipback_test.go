package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// flipScene is a failover that goes back to the same server process: A,
// the master, holds messages 1 to 8 of topic "a"'s epoch while its
// replica B has 1 to 5 when it is promoted (REPLICAOF NO ONE: nothing
// reaches it from A after that); A is made a replica of B (a full
// resynchronisation: its data set is B's, head 5, recorded as written by
// A's run_id, which never changes) and is promoted again. The nodes
// reach A by its address, as a standalone server.
type flipScene struct {
	a, b   *redistest.Server
	opts   fredis.Options
	ev     *nodeEvents
	epoch  string // the epoch of messages 1 to 8
	lostID string // the ID of message 8, which A loses
}

func newFlipScene(t *testing.T) *flipScene {
	t.Helper()
	s := &flipScene{opts: fastChecks, ev: &nodeEvents{}}
	s.opts.Prefix = newPrefix()
	s.a = redistest.Start(t, "--repl-diskless-sync-delay", "0")
	s.b = redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.a.Port()), "--repl-diskless-sync-delay", "0")
	linkUp(t, s.b)
	return s
}

// publish publishes messages 1 to 5 through first, waits until B has
// them, promotes B, then publishes 6 to 8 through x, which a feed of x
// receives (their IDs are those of the epoch). x is closed then: it saw
// offset 8, and its next call would start a new epoch (the head below
// what it saw), as if it had served other partitions only.
func (s *flipScene) publish(t *testing.T, first, x *node) {
	t.Helper()
	f := openFeed(t, x, kindWS, []string{"a"}, "")
	old := series("", 1, 8)
	publishAll(t, first, "a", old[:5]...)
	meta := fredis.MetaKey(x.eng, x.eng.Partition("a"))
	eventually(t, func() bool {
		h, err := s.b.Do("HGET", meta, "h")
		return err == nil && h == "5"
	}, "B has offset 5")
	if _, err := s.b.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	publishAll(t, x, "a", old[5:]...)
	f.expect(t, old[:7]...)
	s.lostID = f.expect(t, old[7])
	s.epoch = head(t, x.eng, "a").Epoch
	_ = x.hub.Close()
	_ = x.eng.Close()
}

// flip makes A a replica of B, waits until its data set is B's (head 5),
// calls during (if set), and promotes A again.
func (s *flipScene) flip(t *testing.T, during func()) {
	t.Helper()
	if _, err := s.a.Do("REPLICAOF", "127.0.0.1", strconv.Itoa(s.b.Port())); err != nil {
		t.Fatal(err)
	}
	linkUp(t, s.a)
	meta := "{" + s.opts.Prefix + ":0}:meta"
	if h, err := s.a.Do("HGET", meta, "h"); err != nil || h != "5" {
		t.Fatalf("A's head after its resynchronisation from B: %v %v, want 5", h, err)
	}
	if during != nil {
		during()
	}
	if _, err := s.a.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
}

// expectNewEpoch publishes three messages through n, then checks that
// they are not in the lost messages' epoch, and that a client resuming
// from the ID of message 8 through n gets the resync signal.
func (s *flipScene) expectNewEpoch(t *testing.T, n *node) {
	t.Helper()
	publishAll(t, n, "a", "n6", "n7", "n8")
	if h := head(t, n.eng, "a"); h.Epoch == s.epoch {
		t.Errorf("after the flip back, %s published in the epoch of the lost messages (%s, head %d): their offsets were taken again", n.name, s.epoch, h.Offset)
	}
	g := openFeed(t, n, kindWS, []string{"a"}, s.lostID)
	publishAll(t, n, "a", "end")
	g.expectResync(t)
}

// linkUp waits until the replica srv is in sync with its master.
func linkUp(t *testing.T, srv *redistest.Server) {
	t.Helper()
	eventually(t, func() bool {
		info, err := redistest.String(srv.Do("INFO", "replication"))
		return err == nil && strings.Contains(info, "master_link_status:up")
	}, "the replica in sync")
}

// head returns the head of topic's partition, read through e.
func head(t *testing.T, e *fredis.Engine, topic string) fanout.Position {
	t.Helper()
	h, err := e.Head(context.Background(), e.Partition(topic))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestFault_FlipBackFailover: after the flip back, a node that starts
// then (it never saw 6 to 8) publishes three messages on A, then a
// client resumes from the ID of message 8 through it. The client must
// get the resync signal: offsets 6 to 8 now hold other messages, which
// it would otherwise miss silently. (A's run_id is the one that wrote
// the epoch: only its master_replid, which the promotion changed, tells
// the data set may have gone back.)
func TestFault_FlipBackFailover(t *testing.T) {
	s := newFlipScene(t)
	x := startNode(t, "x", &s.opts, s.ev, s.a.Addr())
	s.publish(t, x, x)
	s.flip(t, nil)
	s.expectNewEpoch(t, startNode(t, "y", &s.opts, s.ev, s.a.Addr()))
}

// TestFault_FlipBackBakedText: the node that publishes after the flip
// back is one that ran the scripts on A before it (their texts, with A's
// identity baked in, are still in A's script cache: a resynchronisation
// does not flush it), and saw messages 1 to 5 only. Its calls find the
// identity changed, so the first publish starts a new epoch:
//   - idle: it made no call while A was a replica; its first call more
//     than a CheckInterval after its last checks the identity;
//   - readonly: its CheckInterval is long, but it published while A was
//     a replica (refused: READONLY), which makes its next call check.
func TestFault_FlipBackBakedText(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		s := newFlipScene(t)
		z := startNode(t, "z", &s.opts, s.ev, s.a.Addr())
		s.publish(t, z, startNode(t, "x", &s.opts, s.ev, s.a.Addr()))
		last := time.Now()
		s.flip(t, nil)
		// The check is due a CheckInterval after the last one: the
		// engine's clock is the condition waited for.
		eventually(t, func() bool { return time.Since(last) > s.opts.CheckInterval }, "a CheckInterval after z's last call")
		s.expectNewEpoch(t, z)
	})
	t.Run("readonly", func(t *testing.T) {
		s := newFlipScene(t)
		s.opts.CheckInterval = time.Hour
		z := startNode(t, "z", &s.opts, s.ev, s.a.Addr())
		s.publish(t, z, startNode(t, "x", &s.opts, s.ev, s.a.Addr()))
		s.flip(t, func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			err := z.eng.Publish(ctx, "a", fanout.NewMessage([]byte("refused")))
			if err == nil || !strings.Contains(err.Error(), "READONLY") {
				t.Fatalf("a publish on A, B's replica: %v; want READONLY", err)
			}
		})
		s.expectNewEpoch(t, z)
	})
}
