package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// checkRefused checks that every use of eng fails with ErrLayout, naming
// both numbers of partitions.
func checkRefused(t *testing.T, eng *fredis.Engine, mine, theirs int) {
	t.Helper()
	ctx := context.Background()
	want := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fredis.ErrLayout) {
			t.Fatalf("%s on a node with %d partitions (Redis has %d) = %v; want ErrLayout", what, mine, theirs, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "partitions") || !strings.Contains(msg, " "+strconv.Itoa(mine)) || !strings.Contains(msg, " "+strconv.Itoa(theirs)) {
			t.Errorf("%s: %q does not name both numbers of partitions", what, msg)
		}
	}
	want("Subscribe", eng.Subscribe(ctx, []string{"a"}))
	for _, topic := range []string{"a", "b", "c", "d", "e", "f"} {
		want("Publish to "+topic, eng.Publish(ctx, topic, fanout.NewMessage([]byte("x"))))
	}
	want("Broadcast", eng.Publish(ctx, "", fanout.NewMessage([]byte("x"))))
	for p := range eng.Partitions() {
		_, err := eng.Head(ctx, p)
		want("Head", err)
	}
	_, _, err := eng.Read(ctx, fanout.Position{Epoch: "x"}, []string{"a"})
	want("Read", err)
}

// TestLayout_Mismatch: a node with Partitions 1 and a node with
// Partitions 4 on one Redis and prefix (a rolling deploy that changes
// the setting): the node that comes second is refused at its first use,
// whichever its number, with ErrLayout; the first goes on as before.
func TestLayout_Mismatch(t *testing.T) {
	srv := redistest.Start(t)
	for _, c := range []struct{ first, second int }{{1, 4}, {4, 1}} {
		ev := &nodeEvents{}
		opts := fredis.Options{Prefix: newPrefix(), Partitions: c.first}
		first := startNode(t, "first", &opts, ev, srv.Addr())
		f := openFeed(t, first, kindWS, []string{"a"}, "")
		publishAll(t, first, "a", "1")
		f.expect(t, "1")

		opts.Partitions = c.second
		second := newEngine(t, "second", &opts, srv.Addr())
		second.Start(enginetest.NewRecorder())
		checkRefused(t, second, c.second, c.first)

		publishAll(t, first, "a", "2")
		f.expect(t, "2")
		if n := ev.resyncs.Load(); n != 0 {
			t.Errorf("%d resyncs on the first node", n)
		}
	}
}
