package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	goclient "github.com/fanout-go/fanout/client"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
	"github.com/fanout-go/fanout/redis/internal/script"
)

// storeOnly stores data on topic in partition 0 of prefix the way Publish
// does, but publishes it on a channel nobody follows: for the followers,
// a message whose live copy was lost.
func storeOnly(t *testing.T, c rueidis.Client, prefix, topic, data string) {
	t.Helper()
	tag := "{" + prefix + ":0}"
	err := rueidis.NewLuaScript(script.Publish).Exec(context.Background(), c,
		[]string{tag + ":meta", tag + ":log"},
		[]string{"lost", "1", "", "0", tag + ":nowhere", "0", "1000", "0", topic, "t", data}).Error()
	if err != nil {
		t.Fatal(err)
	}
}

// started returns an engine started on a Recorder.
func started(t *testing.T, opts *fredis.Options, addr string) (*fredis.Engine, *enginetest.Recorder) {
	t.Helper()
	e := newEngine(t, "node", opts, addr)
	r := enginetest.NewRecorder()
	e.Start(r)
	return e, r
}

func data(ds []enginetest.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Message.Data()))
	}
	return out
}

// TestEngine_OnlyFollowedTopics: a node receives the messages of the
// topics it subscribed to, and broadcasts, and nothing of the others
// (a topic's messages go out on its own channel); the offsets it skips
// are not holes: nothing is read from the stream for them. A message
// stored before Subscribe is not delivered.
func TestEngine_OnlyFollowedTopics(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	raw := newClient(t, "raw", srv.Addr())
	e, rec := started(t, &fredis.Options{Prefix: prefix, CheckInterval: time.Hour}, srv.Addr())
	ctx := context.Background()

	storeOnly(t, raw, prefix, "a", "before") // before the subscription: not delivered
	if err := e.Subscribe(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a"})
	for i, topic := range []string{"a", "b", "b", "", "a", "b", "a"} {
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(fmt.Sprint(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	got := data(rec.Wait(t, 4, waitTimeout))
	if fmt.Sprint(got) != "[1 4 5 7]" {
		t.Fatalf("delivered %v, want [1 4 5 7]: the messages of a, and the broadcast", got)
	}
	if st := e.Stats(); st.Holes != 0 || st.Recovered != 0 || st.Resyncs != 0 {
		t.Errorf("stats %+v: want no hole, nothing recovered, no resync", st)
	}
	if extra := rec.Len() - 4; extra != 0 {
		t.Errorf("%d deliveries too many", extra)
	}
}

// TestEngine_LostLastMessage: when the live copy of the last message is
// lost, on a connection that stays subscribed, no later message shows
// the hole: the audit of the idle partition (every check here) finds it
// at the head, delivers it from the stream, and replaces the
// subscription that missed it.
func TestEngine_LostLastMessage(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	raw := newClient(t, "raw", srv.Addr())
	e, rec := started(t, &fredis.Options{Prefix: prefix, CheckInterval: 50 * time.Millisecond}, srv.Addr())
	fredis.SetAuditEvery(e, 1) // the probe cannot see this loss: the audit reads
	ctx := context.Background()
	if err := e.Subscribe(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a"})
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("1"))); err != nil {
		t.Fatal(err)
	}
	storeOnly(t, raw, prefix, "a", "2")
	got := data(rec.Wait(t, 2, waitTimeout))
	if fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("delivered %v, want [1 2]", got)
	}
	// The check counts what it recovered, and the subscription stuck,
	// after it delivered the message.
	eventually(t, func() bool { st := e.Stats(); return st.Recovered >= 1 && st.Stuck >= 1 },
		"the check counts 1 recovered and the subscription stuck")
	if st := e.Stats(); st.Recovered != 1 || st.Stuck != 1 || st.Resyncs != 0 {
		t.Errorf("stats %+v: want 1 recovered by a check that found the subscription stuck, no resync", st)
	}
}

// TestEngine_PauseAndResume: a partition that no local subscriber needs
// is no longer followed (no per-message cost); when a subscriber comes
// back, the feed starts anew (Reset, which reaches nobody: no subscriber
// was there) and delivers what follows.
func TestEngine_PauseAndResume(t *testing.T) {
	srv := redistest.Start(t)
	e, rec := started(t, &fredis.Options{Prefix: newPrefix()}, srv.Addr())
	ctx := context.Background()
	if err := e.Subscribe(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("1"))); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, 1, waitTimeout)
	e.Unsubscribe([]string{"a"})
	if e.Stats().Following != 1 {
		t.Fatal("unsubscribing one topic of two stopped following the partition")
	}
	e.Unsubscribe([]string{"b"})
	eventually(t, func() bool { return e.Stats().Following == 0 }, "the partition is no longer followed")
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("unseen"))); err != nil {
		t.Fatal(err)
	}
	if err := e.Subscribe(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a"})
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("2"))); err != nil {
		t.Fatal(err)
	}
	got := data(rec.Wait(t, 2, waitTimeout))
	if fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("delivered %v, want [1 2]", got)
	}
	if resets := rec.Resets(); len(resets) != 1 || !errors.Is(resets[0].Err, fanout.ErrUnknownID) {
		t.Errorf("resets %v: want one, as the partition was followed again", resets)
	}
}

// TestEngine_HistoryAge: messages older than HistoryAge are trimmed as
// later ones are published; resuming from before them resyncs.
func TestEngine_HistoryAge(t *testing.T) {
	srv := redistest.Start(t)
	e, _ := started(t, &fredis.Options{Prefix: newPrefix(), HistoryAge: 100 * time.Millisecond}, srv.Addr())
	ctx := context.Background()
	start, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("old"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("new"))); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.Read(ctx, start, []string{"a"})
		return errors.Is(err, fanout.ErrUnknownID)
	}, "the old message trimmed by age")
	head, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	prev := head
	prev.Offset--
	if msgs, _, err := e.Read(ctx, prev, []string{"a"}); err != nil || len(msgs) != 1 {
		t.Errorf("Read of the newest message: %d messages, %v", len(msgs), err)
	}
}

// TestNew_Options: New refuses what it cannot work with; Close is
// idempotent, and the engine refuses work after it.
func TestNew_Options(t *testing.T) {
	if _, err := fredis.New(nil, nil); err == nil {
		t.Error("New(nil client) did not fail")
	}
	srv := redistest.Start(t)
	c := newClient(t, "opts", srv.Addr())
	if _, err := fredis.New(c, &fredis.Options{Prefix: "a{b}"}); err == nil {
		t.Error("a prefix with braces was accepted")
	}
	e, err := fredis.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Partitions() != 1 {
		t.Errorf("%d partitions on a standalone Redis by default, want 1", e.Partitions())
	}
	e.Start(enginetest.NewRecorder())
	if err := e.Subscribe(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(e.Close(), e.Close()); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := e.Publish(context.Background(), "a", fanout.NewMessage(nil)); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := e.Subscribe(context.Background(), []string{"b"}); !errors.Is(err, fanout.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// TestEngine_LostKeys: the epoch changes when Redis loses either key of a
// partition (evicted, deleted): the meta hash (its offsets would start
// over), or the stream while the head says it held messages. The node's
// check finds the new epoch and resets the feed: its subscribers get the
// resync signal, with no message needed to show it.
func TestEngine_LostKeys(t *testing.T) {
	srv := redistest.Start(t)
	for _, key := range []string{"meta", "log"} {
		t.Run(key, func(t *testing.T) {
			prefix := newPrefix()
			e, rec := started(t, &fredis.Options{Prefix: prefix, CheckInterval: 50 * time.Millisecond}, srv.Addr())
			ctx := context.Background()
			if err := e.Subscribe(ctx, []string{"a"}); err != nil {
				t.Fatal(err)
			}
			defer e.Unsubscribe([]string{"a"})
			if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("1"))); err != nil {
				t.Fatal(err)
			}
			old := rec.Wait(t, 1, waitTimeout)[0].Message.Position()
			if _, err := srv.Do("DEL", "{"+prefix+":0}:"+key); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { return len(rec.Resets()) > 0 }, "a reset after the "+key+" key was lost")
			head, err := e.Head(ctx, 0)
			if err != nil || head.Epoch == old.Epoch || head.Offset != 0 {
				t.Errorf("Head after losing the %s key = %s, %v; want a new epoch at offset 0", key, head.ID(), err)
			}
			if _, _, err := e.Read(ctx, old, []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
				t.Errorf("Read from %s of the old epoch: %v, want ErrUnknownID", old.ID(), err)
			}
			if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("2"))); err != nil {
				t.Fatal(err)
			}
			if m := rec.Wait(t, 2, waitTimeout)[1].Message; string(m.Data()) != "2" || m.Position().Epoch != head.Epoch {
				t.Errorf("delivered %q at %s after the loss", m.Data(), m.ID())
			}
		})
	}
}

// The Go client, given every node's URL, moves to another node at each
// reconnection (Options.URLs), over both transports, and resumes there:
// nodes that share the Redis engine share the IDs, so it ends with exactly
// what was published, on whichever node, while its own nodes kept closing
// it.
func TestClient_MovesBetweenNodes(t *testing.T) {
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix()}
	subs := make(chan *fanout.Subscriber, 16)
	ev := &nodeEvents{subs: subs}
	nodes := []*node{
		startNode(t, "a", opts, ev, srv.Addr()),
		startNode(t, "b", opts, ev, srv.Addr()),
		startNode(t, "c", opts, ev, srv.Addr()),
	}
	ws := func(n *node) string { return "ws" + strings.TrimPrefix(n.url, "http") + "/ws?topic=room" }
	sse := func(n *node) string { return n.url + "/sse?topic=room" }
	// a (WebSocket), then b over SSE, c over WebSocket, a over SSE, ...
	c, err := goclient.New(ws(nodes[0]), &goclient.Options{URLs: []string{sse(nodes[1]), ws(nodes[2]), sse(nodes[0])}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	next, total := 1, 0
	publish := func(on *node, n int) {
		t.Helper()
		for range n {
			total++
			if err := on.publish(ctx, "room", []byte(strconv.Itoa(total)), total%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(upTo int) {
		t.Helper()
		for next <= upTo {
			m, err := c.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Resync {
				t.Fatalf("a resync (%s) before message %d", m.Data, next)
			}
			if got, _ := strconv.Atoi(string(m.Data)); got != next {
				t.Fatalf("message %q, want %d: a gap or a duplicate", m.Data, next)
			}
			next++
		}
	}
	cur := recvSub(t, subs)
	hosts := map[string]bool{}
	for round := range 6 {
		hosts[cur.Request().Host+" "+cur.Transport()] = true
		publish(nodes[round%3], 20)
		read(total)
		// Its node closes it; what is published meanwhile waits for it
		// on the next node.
		_ = cur.CloseWith(fanout.StatusTryAgainLater, "move along")
		publish(nodes[(round+1)%3], 10)
		cur = recvSub(t, subs) // back, on the next node
	}
	read(total)
	if len(hosts) < 4 {
		t.Errorf("the client was served from %v: want several nodes, over both transports", hosts)
	}
	if ev.resyncs.Load() != 0 {
		t.Fatalf("%d resyncs", ev.resyncs.Load())
	}
}

// recvSub returns the next subscriber that connected to any node.
func recvSub(t *testing.T, subs <-chan *fanout.Subscriber) *fanout.Subscriber {
	t.Helper()
	var s *fanout.Subscriber
	eventually(t, func() bool {
		select {
		case s = <-subs:
			return true
		default:
			return false
		}
	}, "a subscriber")
	return s
}
