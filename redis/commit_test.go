package redis_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// evalshaCalls returns how many EVALSHA calls srv ran since its stats
// were reset.
func evalshaCalls(t *testing.T, addr string) int {
	t.Helper()
	info, err := redistest.String(redistest.Do(context.Background(), addr, "INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_evalsha:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func resetStats(t *testing.T, addr string) {
	t.Helper()
	if _, err := redistest.Do(context.Background(), addr, "CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
}

// TestEngine_GroupCommit: concurrent publishers of a partition share
// script calls (group commit), and every message is delivered once, in
// each publisher's order. Half of the publishers' contexts can end (their
// batches are led by a goroutine of the engine's), half cannot (they
// lead themselves). With a HistorySize of 100, the batches trim the
// stream, and the topic index follows.
func TestEngine_GroupCommit(t *testing.T) {
	srv := redistest.Start(t)
	for _, size := range []int{0, 100} {
		t.Run(fmt.Sprintf("HistorySize %d", size), func(t *testing.T) { testGroupCommit(t, srv, size) })
	}
}

func testGroupCommit(t *testing.T, srv *redistest.Server, historySize int) {
	opts := &fredis.Options{Prefix: newPrefix(), Partitions: 1, HistorySize: historySize}
	pub := startNode(t, "pub", opts, &nodeEvents{}, srv.Addr())
	sub := startNode(t, "sub", opts, &nodeEvents{}, srv.Addr())
	topics := []string{"a", "b", "c", "d", "e", "f", "g", "h"} // two publishers each
	f := openFeed(t, sub, kindWS, topics, "")
	publishAll(t, pub, "a", "warm-up") // the script loaded
	f.expect(t, "warm-up")

	const publishers, each = 16, 40
	resetStats(t, srv.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for i := range publishers {
		wg.Go(func() {
			ctx := context.Background()
			if i%2 == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, waitTimeout)
				defer cancel()
			}
			for j := range each {
				if err := pub.publish(ctx, topics[i%len(topics)], fmt.Appendf(nil, "p%d-%d", i, j), false); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	calls := evalshaCalls(t, srv.Addr())
	t.Logf("%d publishes in %d EVALSHA calls", publishers*each, calls)
	if calls > publishers*each/2 {
		t.Errorf("%d publishes took %d EVALSHA calls: not batched", publishers*each, calls)
	}

	checkIndex(t, newClient(t, "check", srv.Addr()), pub.eng)

	next := make([]int, publishers) // each publisher's next message expected
	for range publishers * each {
		r := f.next(t)
		var i, j int
		if _, err := fmt.Sscanf(r.data, "p%d-%d", &i, &j); err != nil || r.resync {
			t.Fatalf("got %+v", r)
		}
		if j != next[i] {
			t.Fatalf("got %q, want p%d-%d: lost, duplicated or out of order", r.data, i, next[i])
		}
		next[i]++
	}
}

// frozenEngine returns an engine on a proxy to a new server (two
// connections for commands, as in TestEngine_FailedPublishNotOvertaken),
// with its partition's script loaded, and the server's address.
func frozenEngine(t *testing.T) (*fredis.Engine, *redistest.Proxy, string) {
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{px.Addr()}, DisableCache: true,
		PipelineMultiplex: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e, err := fredis.New(c, &fredis.Options{Prefix: newPrefix(), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	e.Start(enginetest.NewRecorder())
	if err := e.Publish(context.Background(), "t", fanout.NewMessage([]byte("before"))); err != nil {
		t.Fatal(err)
	}
	return e, px, srv.Addr()
}

// freezeCall publishes data on e (partition 0) on a connection that the
// proxy freezes, and returns once its call is in flight, with its
// Publish's result to come.
func freezeCall(t *testing.T, e *fredis.Engine, px *redistest.Proxy, data string) <-chan error {
	px.FreezeOn([]byte(data))
	done := make(chan error, 1)
	go func() { done <- e.Publish(context.Background(), "t", fanout.NewMessage([]byte(data))) }()
	eventually(t, func() bool {
		active, queued := fredis.PublishQueue(e, 0)
		return active && queued == 0
	}, data+"'s call sent")
	return done
}

// queueBehind publishes n messages, data(i) each, on e's partition 0
// from goroutines of their own, and returns once all are queued behind
// the call px holds frozen (see freezeCall), with thaw: it lets that
// call go, and fails t unless the call's Publish (first) and the n
// publishes succeed.
func queueBehind(t *testing.T, e *fredis.Engine, px *redistest.Proxy, first <-chan error, n int, data func(i int) string) (thaw func()) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- e.Publish(context.Background(), "t", fanout.NewMessage([]byte(data(i)))) })
	}
	eventually(t, func() bool {
		_, queued := fredis.PublishQueue(e, 0)
		return queued == n
	}, fmt.Sprintf("%d publishes queued", n))
	return func() {
		px.Thaw()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
}

// stored returns the data of the messages of topic t stored in e's
// partition 0.
func stored(t *testing.T, e *fredis.Engine) []string {
	ctx := context.Background()
	head, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _, err := e.Read(ctx, fanout.Position{Epoch: head.Epoch}, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Data()))
	}
	return out
}

// TestEngine_PublishCancelledWhileQueued: a Publish whose context ends
// while its message waits for the partition's call in flight returns the
// context's error, and its message is never stored.
func TestEngine_PublishCancelledWhileQueued(t *testing.T) {
	e, px, _ := frozenEngine(t)
	first := freezeCall(t, e, px, "FIRST")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.Publish(ctx, "t", fanout.NewMessage([]byte("QUEUED"))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish(QUEUED) behind a frozen call: %v, want the deadline", err)
	}
	px.Thaw()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(context.Background(), "t", fanout.NewMessage([]byte("after"))); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stored(t, e), " "); got != "before FIRST after" {
		t.Fatalf("stored %q, want \"before FIRST after\"", got)
	}
}

// TestEngine_GroupCommitBounds: a batch holds 64 messages and 256 KiB at
// most; what is queued beyond goes in the next call.
func TestEngine_GroupCommitBounds(t *testing.T) {
	e, px, addr := frozenEngine(t)
	for _, tc := range []struct {
		name      string
		n, size   int
		wantCalls int
	}{
		{"count", 70, 10, 2},            // 64 + 6
		{"bytes", 3, 100 << 10, 2},      // 200 KiB + 100 KiB
		{"one larger", 1, 300 << 10, 1}, // alone
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := freezeCall(t, e, px, "FIRST-"+tc.name)
			resetStats(t, addr)
			thaw := queueBehind(t, e, px, first, tc.n, func(i int) string {
				return fmt.Sprintf("%s-%d-", tc.name, i) + strings.Repeat("x", tc.size)
			})
			thaw()
			if got := evalshaCalls(t, addr); got != 1+tc.wantCalls {
				t.Fatalf("%d messages of %d bytes queued: %d EVALSHA calls, want 1 (the frozen one) + %d", tc.n, tc.size, got, tc.wantCalls)
			}
		})
	}
	head, err := e.Head(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(1 + 3 + 70 + 3 + 1); head.Offset != want { // before, the frozen ones, the batches'
		t.Fatalf("head %d, want %d", head.Offset, want)
	}
}

// checkIndex checks the topic index of e's partition 0 (see index.lua)
// against its stream, whose messages were all published by e: each
// entry names the previous one of its topic (field p), and the meta hash
// each topic's last one (t:<topic>), and says that the chain covers the
// whole stream.
func checkIndex(t *testing.T, c rueidis.Client, e *fredis.Engine) {
	t.Helper()
	ctx := context.Background()
	entries, err := c.Do(ctx, c.B().Xrange().Key(fredis.StreamKey(e, 0)).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := c.Do(ctx, c.B().Hgetall().Key(fredis.MetaKey(e, 0)).Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	var offset string
	oldest, _, _ := strings.Cut(entries[0].ID, "-")
	for _, en := range entries {
		offset, _, _ = strings.Cut(en.ID, "-")
		topic, p := en.FieldValues["t"], en.FieldValues["p"]
		if want := last[topic]; want != "" && p != want {
			t.Fatalf("entry %s of topic %q: p %q, want %q (its topic's previous)", en.ID, topic, p, want)
		}
		if last[topic] == "" && p != "0" && atoi(t, p) >= atoi(t, oldest) { // (trimmed, or none)
			t.Fatalf("entry %s of topic %q: p %q, but its topic's first entry in the stream", en.ID, topic, p)
		}
		last[topic] = offset
	}
	for topic, o := range last {
		if got := meta["t:"+topic]; got != o {
			t.Errorf("meta hash: t:%s = %q, want %q", topic, got, o)
		}
	}
	if meta["h"] != offset || meta["jl"] != offset || atoi(t, meta["js"]) < 1 || atoi(t, meta["js"]) > atoi(t, offset) || meta["je"] != meta["e"] {
		t.Errorf("meta hash %v: want h and jl %s, js from 1 to it, je the epoch", meta, offset)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestEngine_GaveUpInBatchFenced: a Publish whose context ends after its
// batch was sent gives up as alone (fence.go): the batch is not
// cancelled (the others of the batch are stored), and the caller's next
// Publish to the partition waits until the batch's call has ended.
func TestEngine_GaveUpInBatchFenced(t *testing.T) {
	e, px, _ := frozenEngine(t)
	first := freezeCall(t, e, px, "FIRST")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gaveUp, other := make(chan error, 1), make(chan error, 1)
	go func() { gaveUp <- e.Publish(ctx, "t", fanout.NewMessage([]byte("GIVEUP"))) }()
	eventually(t, func() bool { _, queued := fredis.PublishQueue(e, 0); return queued == 1 }, "GIVEUP queued")
	go func() { other <- e.Publish(context.Background(), "t", fanout.NewMessage([]byte("OTHER"))) }()
	eventually(t, func() bool { _, queued := fredis.PublishQueue(e, 0); return queued == 2 }, "OTHER queued")
	px.FreezeOn([]byte("GIVEUP")) // the next batch's call: GIVEUP and OTHER
	px.Thaw()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		active, queued := fredis.PublishQueue(e, 0)
		return active && queued == 0
	}, "GIVEUP's and OTHER's call sent")
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish(GIVEUP), cancelled after its batch was sent: %v, want context.Canceled", err)
	}
	later, cancelLater := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelLater()
	// (Not queued behind the call: held by the fence, before.)
	if err := e.Publish(later, "t", fanout.NewMessage([]byte("LATER"))); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Publish(LATER) while GIVEUP's batch is in flight: %v, want the deadline, fenced", err)
	}
	px.Thaw()
	if err := <-other; err != nil {
		t.Fatalf("Publish(OTHER), in GIVEUP's batch: %v", err)
	}
	if err := e.Publish(context.Background(), "t", fanout.NewMessage([]byte("after"))); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stored(t, e), " "); got != "before FIRST GIVEUP OTHER after" {
		t.Fatalf("stored %q, want \"before FIRST GIVEUP OTHER after\"", got)
	}
}

// TestEngine_LonePublisherNeverYields: a lone sequential publisher's
// publishes never wait for the other goroutines to run (see commit.go:
// the leader yields only where there is evidence of concurrent
// publishers), whether it leads its calls (a context that cannot end) or
// the engine's goroutine does (one that can), even after a burst.
func TestEngine_LonePublisherNeverYields(t *testing.T) {
	srv := redistest.Start(t)
	e, err := fredis.New(newClient(t, "lone", srv.Addr()), &fredis.Options{Prefix: newPrefix(), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	e.Start(enginetest.NewRecorder())
	m := fanout.NewMessage([]byte("lone"))
	publish := func(deadline bool) {
		ctx := context.Background()
		if deadline {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, waitTimeout)
			defer cancel()
		}
		if err := e.Publish(ctx, "t", m); err != nil {
			t.Fatal(err)
		}
	}
	for _, deadline := range []bool{false, true, false} {
		for range 200 {
			publish(deadline)
		}
		if n := fredis.PublishYields(e, 0); n != 0 {
			t.Fatalf("a lone publisher (deadline %v): %d yields, want none", deadline, n)
		}
	}
}

// TestEngine_GroupCommitYields: where publishes were queued while a call
// was in flight, the leader of the next batch yields before it takes it,
// once (see commit.go), and the lone publishes after the burst yield for
// CrowdBatches batches more, then no longer.
func TestEngine_GroupCommitYields(t *testing.T) {
	e, px, _ := frozenEngine(t)
	first := freezeCall(t, e, px, "FIRST")
	thaw := queueBehind(t, e, px, first, 5, func(i int) string { return fmt.Sprintf("q%d", i) })
	before := fredis.PublishYields(e, 0)
	thaw()
	if n := fredis.PublishYields(e, 0) - before; n != 1 {
		t.Fatalf("5 publishes queued behind a call: %d yields, want 1", n)
	}
	// The burst's batch held 5: the next CrowdBatches lone publishes
	// yield, and none after them.
	for range fredis.CrowdBatches + 20 {
		if err := e.Publish(context.Background(), "t", fanout.NewMessage([]byte("after"))); err != nil {
			t.Fatal(err)
		}
	}
	if n := fredis.PublishYields(e, 0) - before; n != 1+fredis.CrowdBatches {
		t.Fatalf("%d lone publishes after a burst: %d yields in all, want 1 + %d", fredis.CrowdBatches+20, n, fredis.CrowdBatches)
	}
}

// TestEngine_PublishReplySeen: the engine takes the position its
// publishes stored at from the script's reply (the last message's, for a
// batch), with no follower or read to tell it: the position a later
// call checks for a rollback (see rollback.go).
func TestEngine_PublishReplySeen(t *testing.T) {
	srv := redistest.Start(t)
	e, err := fredis.New(newClient(t, "seen", srv.Addr()), &fredis.Options{Prefix: newPrefix(), Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() }) // not started: nothing follows the live channel
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() { errs <- e.Publish(context.Background(), "t", fanout.NewMessage(fmt.Appendf(nil, "m%d", i))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	epoch, offset := fredis.SeenPosition(e, 0)
	head, err := e.Head(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if epoch != head.Epoch || offset != head.Offset || offset != 20 {
		t.Fatalf("seen %s/%d after 20 publishes, want the head %s/%d (20)", epoch, offset, head.Epoch, head.Offset)
	}
}
