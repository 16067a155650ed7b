package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// The publish and head scripts take the server's run_id baked into their
// text, loaded into that server process only (baked.go). These tests
// check that they never run with a run_id that is not their server's:
// the first write after the server changed still starts a new epoch,
// also by an engine that loaded its scripts before and saw no offset
// above the head (so that only the run_id can tell).

// publishN publishes n messages on topic "a" through e and returns the
// position of the last, from the head.
func publishN(t *testing.T, e *fredis.Engine, n int) fanout.Position {
	t.Helper()
	ctx := context.Background()
	for range n {
		if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("m"))); err != nil {
			t.Fatal(err)
		}
	}
	head, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// infoCommands returns how many INFO commands srv has run, its scripts'
// included (this one's not).
func infoCommands(t *testing.T, srv *redistest.Server) float64 {
	t.Helper()
	n, _ := commandStat(t, srv, "info", "calls")
	return n
}

// TestBaked_PublishReadsNoInfo: once its scripts are loaded, a publish
// costs no INFO command (before, each read INFO server: 2 to 4 µs of
// Redis CPU, a tenth of the script). Two engines on one server agree on
// the run_id: their publishes, interleaved, stay in one epoch.
func TestBaked_PublishReadsNoInfo(t *testing.T) {
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix(), Partitions: 1}
	e1 := newEngine(t, "e1", opts, srv.Addr())
	e2 := newEngine(t, "e2", opts, srv.Addr())
	start := publishN(t, e1, 1)
	publishN(t, e2, 1)
	before := infoCommands(t, srv)
	for range 10 {
		publishN(t, e1, 1)
		publishN(t, e2, 1)
	}
	// 20 publishes and 20 head reads; the INFO of infoCommands is the one
	// more.
	if n := infoCommands(t, srv) - before; n != 1 {
		t.Errorf("%v INFO commands for 20 publishes and 20 head reads, want none", n-1)
	}
	head := publishN(t, e1, 0)
	if head.Epoch != start.Epoch || head.Offset != 22 {
		t.Errorf("head %+v after 22 publishes of two engines, want offset 22 of epoch %s", head, start.Epoch)
	}
}

// rollbackNoticed checks that the first publish of late, after the data
// set went back to was (the head when it was saved), starts a new epoch:
// the old epoch's IDs are refused.
func rollbackNoticed(t *testing.T, late *fredis.Engine, was fanout.Position) {
	t.Helper()
	ctx := context.Background()
	// The first command on a connection the change cut fails.
	eventually(t, func() bool {
		return late.Publish(ctx, "a", fanout.NewMessage([]byte("m"))) == nil
	}, "a publish after the server changed")
	head := publishN(t, late, 0)
	if head.Epoch == was.Epoch {
		t.Fatalf("head %+v after the server changed: the epoch went on (%s); want a new one", head, was.Epoch)
	}
	if head.Offset != 1 {
		t.Errorf("head %+v: want offset 1 of the new epoch", head) // the failed ones were not sent
	}
	if _, _, err := late.Read(ctx, was, []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Errorf("Read from %s of the old epoch: %v, want ErrUnknownID", was.ID(), err)
	}
}

// TestBaked_RestartFromSnapshot: Redis restarts from a snapshot taken at
// offset 5, after 10 were published. The engine that published 1..5 had
// its scripts loaded in the old process and saw nothing above 5: its
// next publish, refused by EVALSHA (NOSCRIPT) on the new process, must
// still start a new epoch, the new process's run_id not being the
// epoch's. Running its old text there (rueidis's EVAL after NOSCRIPT)
// would go on with offset 6 of the old epoch.
func TestBaked_RestartFromSnapshot(t *testing.T) {
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix(), Partitions: 1}
	late := newEngine(t, "late", opts, srv.Addr())
	other := newEngine(t, "other", opts, srv.Addr())
	was := publishN(t, late, 5)
	srv.Save()
	publishN(t, other, 5)
	srv.Restart()
	rollbackNoticed(t, late, was)
}

// TestBaked_PromotedReplica: a replica in sync is promoted, and the
// engine's connections lead there: nothing was lost, but the new primary
// is another process, whose run_id is not the epoch's, and the next
// publish starts a new epoch (see Histories that go back: when in doubt,
// resync), by an engine whose scripts were loaded in the old primary.
func TestBaked_PromotedReplica(t *testing.T) {
	primary := redistest.Start(t)
	replica, _ := startReplica(t, primary)
	front := redistest.StartProxy(t, primary.Addr())
	opts := &fredis.Options{Prefix: newPrefix(), Partitions: 1}
	late := newEngine(t, "late", opts, front.Addr())
	was := publishN(t, late, 5)
	waitReplicated(t, replica, opts.Prefix, 5)
	if _, err := replica.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	front.SetTarget(replica.Addr())
	front.CutAll()
	primary.Kill()
	rollbackNoticed(t, late, was)
}

// TestBaked_ScriptFlush: an operator's SCRIPT FLUSH on the same server
// process loses the engine's scripts, not its history: the next publish
// loads them again and goes on in the same epoch, from the next offset.
func TestBaked_ScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix(), Partitions: 1}
	e := newEngine(t, "e", opts, srv.Addr())
	was := publishN(t, e, 3)
	if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	head := publishN(t, e, 3)
	if head.Epoch != was.Epoch || head.Offset != 6 {
		t.Fatalf("head %+v after SCRIPT FLUSH and 3 more publishes, want offset 6 of epoch %s", head, was.Epoch)
	}
	msgs, _, err := e.Read(context.Background(), was, []string{"a"})
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Read from %s: %d messages, %v; want 3", was.ID(), len(msgs), err)
	}
}

// TestBaked_InfoRefused: a Redis user that may not run INFO cannot load
// the scripts: Publish fails with an error that says why.
func TestBaked_InfoRefused(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*", "+@all", "-info"); err != nil {
		t.Fatal(err)
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, Username: "noinfo", Password: "pw", DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e, err := fredis.New(c, &fredis.Options{Prefix: newPrefix(), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	err = e.Publish(context.Background(), "a", fanout.NewMessage([]byte("m")))
	if err == nil || !strings.Contains(err.Error(), "need the INFO command") {
		t.Fatalf("Publish as a user without INFO: %v; want an error that names INFO", err)
	}
}
