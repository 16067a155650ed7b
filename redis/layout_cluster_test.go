package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// oldLayoutEngine is an engine that tags a Cluster's partitions
// {prefix:p} and knows no markers, as v0.1.0 does.
func oldLayoutEngine(t *testing.T, name string, opts *fredis.Options, addrs ...string) *fredis.Engine {
	t.Helper()
	e, err := fredis.NewOldLayout(newClient(t, name, addrs...), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// refusedEverywhere checks that every use of e fails with ErrLayout, with
// a message that says want.
func refusedEverywhere(t *testing.T, e *fredis.Engine, want string) {
	t.Helper()
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fredis.ErrLayout) {
			t.Fatalf("%s = %v; want ErrLayout", what, err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not say %q", what, err, want)
		}
	}
	check("Subscribe", e.Subscribe(ctx, []string{"a"}))
	check("Publish", e.Publish(ctx, "a", fanout.NewMessage([]byte("refused"))))
	check("Broadcast", e.Publish(ctx, "", fanout.NewMessage([]byte("refused"))))
	_, err := e.Head(ctx, 3)
	check("Head", err)
	_, _, err = e.Read(ctx, fanout.Position{Epoch: "x"}, []string{"a"})
	check("Read", err)
	if !e.Stats().Refused {
		t.Error("Stats().Refused is false")
	}
}

// followAndPublish subscribes e to topic a, publishes msg there, and
// checks that rec got exactly got so far.
func followAndPublish(t *testing.T, e *fredis.Engine, rec *enginetest.Recorder, msg string, got ...string) {
	t.Helper()
	ctx := context.Background()
	if err := e.Subscribe(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte(msg))); err != nil {
		t.Fatal(err)
	}
	if d := strings.Join(data(rec.Wait(t, len(got), waitTimeout)), " "); d != strings.Join(got, " ") {
		t.Fatalf("delivered %q; want %q", d, got)
	}
}

// TestLayout_ClusterOldAndNew: on a Cluster, nodes that tag the
// partitions {prefix:p} (v0.1.0) and nodes of this version never split
// the traffic silently: whichever comes second is refused (ErrLayout)
// at its first use, and the first goes on; a node of this version that
// finds an old node's number where its marker was (Redis lost the
// marker) is refused too.
func TestLayout_ClusterOldAndNew(t *testing.T) {
	c := redistest.StartCluster(t)
	t.Run("OldThenNew", func(t *testing.T) {
		opts := &fredis.Options{Prefix: newPrefix()}
		old := oldLayoutEngine(t, "old", opts, c.Addrs()...)
		rec := enginetest.NewRecorder()
		old.Start(rec)
		followAndPublish(t, old, rec, "1", "1")

		e := newEngine(t, "new", opts, c.Addrs()...)
		e.Start(enginetest.NewRecorder())
		refusedEverywhere(t, e, "stop them")

		followAndPublish(t, old, rec, "2", "1", "2")
		// The refused node left no marker (one would refuse the old
		// nodes' publishes to partitions they had not used yet).
		for _, topic := range []string{"b", "c", "d", "e", "f", "g", "h"} {
			if err := old.Publish(context.Background(), topic, fanout.NewMessage([]byte("x"))); err != nil {
				t.Errorf("the old node's publish to %s (partition %d): %v", topic, old.Partition(topic), err)
			}
		}
		if old.Stats().Refused {
			t.Error("the old node was refused")
		}
	})
	t.Run("NewThenOld", func(t *testing.T) {
		opts := &fredis.Options{Prefix: newPrefix()}
		e := newEngine(t, "new", opts, c.Addrs()...)
		rec := enginetest.NewRecorder()
		e.Start(rec)
		followAndPublish(t, e, rec, "1", "1")

		old := oldLayoutEngine(t, "old", opts, c.Addrs()...)
		old.Start(enginetest.NewRecorder())
		refusedEverywhere(t, old, "in a newer version's Cluster key layout")

		followAndPublish(t, e, rec, "2", "1", "2")
	})
	t.Run("PartitionsDiffer", func(t *testing.T) {
		// The tags depend on the number of partitions: nodes of this
		// version with different numbers share no key, not even
		// partition 0's, and the markers are what refuses the second.
		for _, n := range [][2]int{{16, 4}, {4, 16}} {
			opts := &fredis.Options{Prefix: newPrefix(), Partitions: n[0]}
			first := newEngine(t, "first", opts, c.Addrs()...)
			rec := enginetest.NewRecorder()
			first.Start(rec)
			followAndPublish(t, first, rec, "1", "1")

			opts.Partitions = n[1]
			second := newEngine(t, "second", opts, c.Addrs()...)
			second.Start(enginetest.NewRecorder())
			checkRefused(t, second, n[1], n[0])
			followAndPublish(t, first, rec, "2", "1", "2")
		}
	})
	t.Run("RunningOldNodeMarked", func(t *testing.T) {
		// An old node that passed its check on partition 0 before the
		// new node came (its keys expired meanwhile: deleted here) is
		// refused at its next publish to a marked partition.
		opts := &fredis.Options{Prefix: newPrefix()}
		old := oldLayoutEngine(t, "old", opts, c.Addrs()...)
		old.Start(enginetest.NewRecorder())
		if _, err := old.Head(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		key := "{" + opts.Prefix + ":0}:meta"
		if _, err := c.MasterOf(t, key).Do("DEL", key); err != nil {
			t.Fatal(err)
		}
		e := newEngine(t, "new", opts, c.Addrs()...)
		if _, err := e.Head(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		for _, topic := range []string{"a", "b", "c", "d"} {
			if err := old.Publish(context.Background(), topic, fanout.NewMessage([]byte("x"))); !errors.Is(err, fredis.ErrLayout) {
				t.Fatalf("the old node's publish to %s (partition %d) = %v; want ErrLayout", topic, old.Partition(topic), err)
			}
		}
	})
	t.Run("MarkerLost", func(t *testing.T) {
		opts := &fredis.Options{Prefix: newPrefix(), CheckInterval: 20 * time.Millisecond}
		e := newEngine(t, "new", opts, c.Addrs()...)
		rec := enginetest.NewRecorder()
		e.Start(rec)
		followAndPublish(t, e, rec, "1", "1")
		// Redis loses the marker of partition 0, and an old node comes:
		// it passes its check there (it may take a few tries: the new
		// node's keeper may put the marker back first).
		key := "{" + opts.Prefix + ":0}:meta"
		for i := 0; ; i++ {
			if _, err := c.MasterOf(t, key).Do("DEL", key); err != nil {
				t.Fatal(err)
			}
			old := oldLayoutEngine(t, "old", opts, c.Addrs()...)
			_, err := old.Head(context.Background(), 0)
			if err == nil {
				break
			}
			if !errors.Is(err, fredis.ErrLayout) || i == 20 {
				t.Fatal(err)
			}
		}
		eventually(t, func() bool { return e.Stats().Refused }, "the new node found the old node's number and was refused")
		refusedEverywhere(t, e, "stop them")
	})
}
