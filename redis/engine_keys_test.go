package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// partitionTTLs returns the PTTL (ms) of partition 0's meta and log
// keys under prefix: -2 for a key that does not exist, -1 for one
// without expiry.
func partitionTTLs(t *testing.T, srv *redistest.Server, prefix string) map[string]int64 {
	t.Helper()
	ttls := map[string]int64{}
	for _, k := range []string{"meta", "log"} {
		ttl, err := srv.Do("PTTL", "{"+prefix+":0}:"+k)
		if err != nil {
			t.Fatal(err)
		}
		ttls[k] = ttl.(int64)
	}
	return ttls
}

// TestKeys_PartitionKeysExpire: the partition's keys (meta hash, stream,
// topic index) get an expiry of HistoryAge and a quarter, keys written
// without one (by an older version) included; once
// nothing was published for that long they are gone, and then a resume
// from an old ID is refused (the resync signal), never answered with a
// gap, and publishes and resumes of the new epoch work.
func TestKeys_PartitionKeysExpire(t *testing.T) {
	const age = 400 * time.Millisecond
	life := (age + age/4).Milliseconds()
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistoryAge: age, CheckInterval: age / 10}, srv.Addr())
	c := newClient(t, "old", srv.Addr())
	ctx := context.Background()
	unindexed(t, c, prefix, "a", "a0") // an older version's: no expiry
	for k, ttl := range partitionTTLs(t, srv, prefix) {
		if ttl != -1 {
			t.Fatalf("the older version's %s: PTTL %d, want none (-1)", k, ttl)
		}
	}
	start, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	start.Offset = 0 // before a0
	for _, d := range []string{"a1", "a2", "a3"} {
		if err := e.Publish(ctx, "a", fanout.NewMessage([]byte(d))); err != nil {
			t.Fatal(err)
		}
	}
	for k, ttl := range partitionTTLs(t, srv, prefix) {
		if ttl <= 0 || ttl > life {
			t.Errorf("%s: PTTL %d ms after a publish; want an expiry within HistoryAge and a quarter (%d ms)", k, ttl, life)
		}
	}
	msgs, _, err := e.Read(ctx, start, []string{"a"})
	if err != nil || len(msgs) != 4 {
		t.Fatalf("Read before the keys expire: %d messages, %v; want 4", len(msgs), err)
	}
	old := msgs[1].Position()

	eventually(t, func() bool {
		ttls := partitionTTLs(t, srv, prefix)
		return ttls["meta"] == -2 && ttls["log"] == -2
	}, "the partition's keys expire")
	if msgs, _, err := e.Read(ctx, old, []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Fatalf("Read from %s after the keys expired: %d messages, %v; want ErrUnknownID (a resync)", old.ID(), len(msgs), err)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("new1"))); err != nil {
		t.Fatal(err)
	}
	head, err := e.Head(ctx, 0)
	if err != nil || head.Epoch == start.Epoch || head.Offset != 1 {
		t.Fatalf("head after the keys expired and a publish: %v, %v; want offset 1 of a new epoch", head.ID(), err)
	}
	if msgs, _, err := e.Read(ctx, old, []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Fatalf("Read from %s in the new epoch: %d messages, %v; want ErrUnknownID (a resync)", old.ID(), len(msgs), err)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("new2"))); err != nil {
		t.Fatal(err)
	}
	msgs, _, err = e.Read(ctx, head, []string{"a"})
	if err != nil || len(msgs) != 1 || string(msgs[0].Data()) != "new2" {
		t.Fatalf("Read of the new epoch: %d messages, %v; want new2", len(msgs), err)
	}
	for k, ttl := range partitionTTLs(t, srv, prefix) {
		if ttl <= 0 || ttl > life {
			t.Errorf("%s: PTTL %d ms in the new epoch; want an expiry within %d ms", k, ttl, life)
		}
	}
}

// TestKeys_HeadKeepsKeysAlive: a partition that nobody publishes to but a
// node follows (its head read every CheckInterval) keeps its keys, so
// its clients resume without a resync; the head of a new epoch gets them
// an expiry too.
func TestKeys_HeadKeepsKeysAlive(t *testing.T) {
	const age = 400 * time.Millisecond
	life := (age + age/4).Milliseconds()
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistoryAge: age, CheckInterval: age / 10}, srv.Addr())
	ctx := context.Background()
	start, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := partitionTTLs(t, srv, prefix)["meta"]; ttl <= 0 || ttl > life {
		t.Fatalf("meta: PTTL %d ms after the head started an epoch; want an expiry within %d ms", ttl, life)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("a1"))); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(3 * time.Duration(life) * time.Millisecond)
	for time.Now().Before(until) {
		if _, err := e.Head(ctx, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(age / 10) // the follower's CheckInterval: pacing, not a wait for a condition
	}
	msgs, _, err := e.Read(ctx, start, []string{"a"})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Read after %v of head reads: %d messages, %v; want a1", 3*time.Duration(life)*time.Millisecond, len(msgs), err)
	}
}

// TestKeys_EveryKeyBounded: after publishes, a broadcast, subscriptions
// and presence on 4 partitions, every key the engine created expires:
// within PresenceTTL, except each partition's meta hash, stream and
// topic index (whose number is fixed and whose size HistorySize
// bounds), within HistoryAge and a quarter. The MEMORY USAGE of each
// kind of key is logged.
func TestKeys_EveryKeyBounded(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, Partitions: 4, PresenceTTL: 5 * time.Second}, srv.Addr())
	ctx := context.Background()
	var topics []string
	for i := range 20 {
		topics = append(topics, fmt.Sprintf("topic%d", i))
	}
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe(topics)
	for i, topic := range topics {
		for range 10 {
			if err := e.Publish(ctx, topic, fanout.NewMessage([]byte("0123456789"))); err != nil {
				t.Fatal(err)
			}
		}
		e.Join(topic, fanout.Member{Subscriber: uint64(i + 1), Group: "user", Transport: "websocket"})
	}
	if err := e.Publish(ctx, "", fanout.NewMessage([]byte("all"))); err != nil {
		t.Fatal(err)
	}
	if m, err := e.Presence(ctx, topics[0]); err != nil || len(m) != 1 {
		t.Fatalf("Presence: %v, %v", m, err)
	}

	keys := prefixKeys(t, srv, prefix)
	partition := 0
	logged := map[string]bool{}
	for k, ttl := range keys {
		if partitionKey(k) {
			partition++
			if life := (30 * time.Hour).Milliseconds(); ttl <= 0 || ttl > life {
				t.Errorf("key %s: PTTL %d ms; want an expiry within HistoryAge and a quarter (%d ms)", k, ttl, life)
			}
		} else if ttl <= 0 || ttl > (5*time.Second).Milliseconds() {
			t.Errorf("key %s: PTTL %d ms; want an expiry within PresenceTTL", k, ttl)
		}
		_, kind, _ := strings.Cut(k, "}:")
		kind, _, _ = strings.Cut(kind, ":")
		if !logged[kind] {
			logged[kind] = true
			n, _ := srv.Do("MEMORY", "USAGE", k)
			t.Logf("%s (e.g. %s): PTTL %d ms, MEMORY USAGE %v bytes", kind, k, ttl, n)
		}
	}
	if partition > 4*4 {
		t.Errorf("%d partition keys; want at most a meta hash, a stream and an index's two sets per partition (16)", partition)
	}
}

// TestKeys_RefreshReadsNoTTL: the publish and head scripts know when the
// partition's keys expire from the meta hash (field k), read with the
// rest of it: they run no PTTL (under a µs of Redis CPU each), and the
// keys still get their expiry.
func TestKeys_RefreshReadsNoTTL(t *testing.T) {
	const age = 400 * time.Millisecond
	life := (age + age/4).Milliseconds()
	srv := redistest.Start(t)
	prefix := newPrefix()
	e := newEngine(t, "e", &fredis.Options{Prefix: prefix, HistoryAge: age, CheckInterval: age / 10, Partitions: 1}, srv.Addr())
	ctx := context.Background()
	for i := range 20 {
		if err := e.Publish(ctx, "a", fanout.NewMessage([]byte(fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Head(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := commandStat(t, srv, "pttl", "calls"); n != 0 {
		t.Errorf("%v PTTL commands for 20 publishes and 20 head reads, want none", n)
	}
	for k, ttl := range partitionTTLs(t, srv, prefix) {
		if ttl <= 0 || ttl > life {
			t.Errorf("%s: PTTL %d ms after the publishes; want an expiry within %d ms", k, ttl, life)
		}
	}
}

// TestKeys_StreamLostThenPublish: when the stream alone is lost (evicted
// under a volatile-* policy, deleted) and the next call is a publish (no
// head read came between), that publish starts a new epoch, at offset 1:
// the publish script learns that the stream is gone from its XADD
// (NOMKSTREAM), not from an EXISTS. An ID of the old epoch then gets
// ErrUnknownID, never the new messages at the old offsets, and the new
// epoch reads back whole, also through the topic index.
func TestKeys_StreamLostThenPublish(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix}, srv.Addr())
	ctx := context.Background()
	pub := func(topic, d string) {
		t.Helper()
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(d))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		pub("a", fmt.Sprintf("old%d", i))
	}
	old, err := e.Head(ctx, 0)
	if err != nil || old.Offset != 3 {
		t.Fatalf("Head = %s, %v; want offset 3", old.ID(), err)
	}
	if _, err := srv.Do("DEL", "{"+prefix+":0}:log"); err != nil {
		t.Fatal(err)
	}
	pub("a", "new1")
	for range 8 { // fillers: the index is worth using
		pub("filler", "filler")
	}
	pub("a", "new2")
	head, err := e.Head(ctx, 0)
	if err != nil || head.Epoch == old.Epoch || head.Offset != 10 {
		t.Fatalf("Head after the stream was lost and 10 publishes = %s, %v; want a new epoch at offset 10", head.ID(), err)
	}
	if _, _, err := e.Read(ctx, fanout.Position{Epoch: old.Epoch, Offset: 1}, []string{"a"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Errorf("Read from offset 1 of the old epoch: %v, want ErrUnknownID", err)
	}
	msgs, _, err := e.Read(ctx, fanout.Position{Epoch: head.Epoch}, []string{"a"})
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Data()))
	}
	if err != nil || !slices.Equal(got, []string{"new1", "new2"}) {
		t.Errorf("Read of the new epoch: %v, %v; want [new1 new2]", got, err)
	}
	if ttls := partitionTTLs(t, srv, prefix); ttls["log"] <= 0 || ttls["meta"] <= 0 {
		t.Errorf("PTTLs in the new epoch: %v; want an expiry on every key", ttls)
	}
}
