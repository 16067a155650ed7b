package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// TestRead_IndexBoundedByAge: the topic index follows the age trim too,
// not only HistorySize: topics whose messages all left the stream by
// age leave the index, while fewer messages than HistorySize came since.
func TestRead_IndexBoundedByAge(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	const age = time.Second
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistoryAge: age, CheckInterval: age / 4}, srv.Addr())
	ctx := context.Background()
	for i := range 200 {
		if err := e.Publish(ctx, fmt.Sprintf("old%d", i), fanout.NewMessage([]byte("m"))); err != nil {
			t.Fatal(err)
		}
	}
	tag := "{" + prefix + ":0}"
	// One publish of another topic every 5 ms (2,000 at most: the
	// length bound, 10,000, is never reached), until the old topics are
	// gone from the index.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * age)
	for n := 0; ; n++ {
		old := 0
		for _, topic := range indexTopics(t, srv, tag) {
			if strings.HasPrefix(topic, "old") {
				old++
			}
		}
		if old == 0 {
			t.Logf("the old topics left the index after %d publishes", n)
			break
		}
		if time.Now().After(deadline) {
			xlen, _ := srv.Do("XLEN", tag+":log")
			t.Fatalf("%d of the 200 old topics are still in the index %v after their messages' age (the stream holds %v)", old, 10*age, xlen)
		}
		<-tick.C
		if err := e.Publish(ctx, "busy", fanout.NewMessage([]byte("b"))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRead_IndexMixedVersions: during a rolling upgrade, nodes of the
// version before (the topic index in a sorted set, fields ie, is, il)
// and of this one (the index in the meta hash) publish and read on the
// same partitions, and the version before may start a new epoch (which
// does not clear this one's fields): every read, of either version,
// returns exactly the messages of its topics, none lost, none foreign.
func TestRead_IndexMixedVersions(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	tag := "{" + prefix + ":0}"
	e, _ := started(t, &fredis.Options{Prefix: prefix}, srv.Addr())
	c := newClient(t, "old", srv.Addr())
	ctx := context.Background()
	oldPublish := rueidis.NewLuaScript(oldScript(t, "publish"))
	oldRead := rueidis.NewLuaScriptReadOnly(oldScript(t, "read"))
	keys := []string{tag + ":meta", tag + ":log", tag + ":last"}

	type msg struct {
		epoch  string
		offset uint64
		topic  string
		data   string
	}
	var stored []msg
	head := func() fanout.Position {
		t.Helper()
		h, err := e.Head(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// pub publishes through this version (old false) or the version
	// before; seen, with old, is the caller's last position (an offset
	// above the head starts a new epoch, as a rollback would).
	pub := func(old bool, topic, data string, seen fanout.Position) {
		t.Helper()
		if !old {
			if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
				t.Fatal(err)
			}
		} else {
			reply, err := oldPublish.Exec(ctx, c, keys, []string{"old", "1", seen.Epoch, strconv.FormatUint(seen.Offset, 10),
				tag + ":t:" + topic, "0", "10000", "0", topic, "t", data, "60000"}).AsStrSlice()
			if err != nil {
				t.Fatal(err)
			}
			if reply[0] != head().Epoch {
				t.Fatalf("the old script stored in epoch %s, the head is in %s", reply[0], head().Epoch)
			}
		}
		h := head()
		stored = append(stored, msg{h.Epoch, h.Offset, topic, data})
	}
	// check reads topics from each offset of the head's epoch, through
	// this version and the version before.
	check := func(when string, topics ...string) {
		t.Helper()
		h := head()
		for from := uint64(0); from < h.Offset; from++ {
			var want []string
			for _, m := range stored {
				if m.epoch == h.Epoch && m.offset > from && (m.topic == "" || slices.Contains(topics, m.topic)) {
					want = append(want, m.data)
				}
			}
			pos := fanout.Position{Epoch: h.Epoch, Offset: from}
			msgs, _, err := e.Read(ctx, pos, topics)
			if err != nil {
				t.Fatalf("%s: Read(%v, %v): %v", when, pos, topics, err)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, string(m.Data()))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: Read(%v, %v) = %v, want %v", when, pos, topics, got, want)
			}
			args := append([]string{h.Epoch, strconv.FormatUint(from, 10), "1", "1024", "0", "1024"}, topics...)
			reply, err := oldRead.Exec(ctx, c, keys, args).ToArray()
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			entries, _ := reply[3].ToArray()
			for _, en := range entries {
				f, _ := en.ToArray()
				kv, _ := f[1].AsStrSlice()
				got = append(got, kv[5])
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: the version before's read from %d of %v = %v, want %v", when, from, topics, got, want)
			}
		}
	}
	fill := func(old bool, n int) {
		for i := range n {
			pub(old, "filler", "f"+strconv.Itoa(i), fanout.Position{})
		}
	}
	for i := range 3 {
		pub(false, "a", fmt.Sprintf("new-a%d", i), fanout.Position{})
		fill(false, 10)
		pub(true, "a", fmt.Sprintf("old-a%d", i), fanout.Position{})
		fill(true, 10)
		pub(false, "b", fmt.Sprintf("new-b%d", i), fanout.Position{})
		pub(false, "", fmt.Sprintf("new-all%d", i), fanout.Position{})
		fill(false, 10)
	}
	check("mixed publishers", "a")
	check("mixed publishers", "b", "c")
	// The version before starts a new epoch (its caller saw an offset
	// above the head): this version's t: fields of the epoch before stay
	// in the meta hash until this version's next publish.
	h := head()
	pub(true, "b", "old-b-new-epoch", fanout.Position{Epoch: h.Epoch, Offset: h.Offset + 100})
	if head().Epoch == h.Epoch {
		t.Fatal("the version before did not start a new epoch")
	}
	fill(false, 20)
	pub(false, "x", "new-x", fanout.Position{})
	fill(false, 20)
	pub(false, "a", "new-a-new-epoch", fanout.Position{})
	fill(false, 20)
	check("after the version before's new epoch", "a")
	check("after the version before's new epoch", "b")
	check("after the version before's new epoch", "a", "x")
	for _, topic := range indexTopics(t, srv, tag) {
		if topic != "filler" && topic != "x" && topic != "a" {
			t.Errorf("the index of the new epoch holds %q, a topic of the epoch before only", topic)
		}
	}
}
