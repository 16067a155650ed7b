package redis_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// scriptTime returns how many read scripts srv has run, and the time
// they took.
func scriptTime(t *testing.T, srv *redistest.Server) (calls int64, took time.Duration) {
	t.Helper()
	n, _ := commandStat(t, srv, "evalsha_ro", "calls")
	us, _ := commandStat(t, srv, "evalsha_ro", "usec")
	return int64(n), time.Duration(us) * time.Microsecond
}

// readCost returns the mean time Redis takes to run the read scripts of
// a resume of topic from from, which must return want messages (a
// script call answers a bounded part of a long range: a Read may make
// several).
func readCost(t *testing.T, srv *redistest.Server, e *fredis.Engine, from fanout.Position, topic string, want int) time.Duration {
	t.Helper()
	calls0, took0 := scriptTime(t, srv)
	const reads = 50
	for range reads {
		msgs, _, err := e.Read(context.Background(), from, []string{topic})
		if err != nil || len(msgs) != want {
			t.Fatalf("Read(%v, %s): %d messages, %v; want %d", from, topic, len(msgs), err, want)
		}
	}
	calls, took := scriptTime(t, srv)
	if calls-calls0 < reads {
		t.Fatalf("%d read scripts run, want at least %d", calls-calls0, reads)
	}
	return (took - took0) / reads
}

// TestRead_QuietTopicCostsWhatItReturns: resuming a quiet topic that
// missed 10 messages while a busy topic of its partition published
// 10,000 among them costs Redis a small part of what resuming the busy
// one does, and about what it costs with no busy topic at all.
func TestRead_QuietTopicCostsWhatItReturns(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistorySize: 20_000}, srv.Addr())
	ctx := context.Background()
	m := fanout.NewMessage(make([]byte, 64))
	publish := func(topic string, n int) {
		for range n {
			if err := e.Publish(ctx, topic, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	head := func() fanout.Position {
		h, err := e.Head(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	alone := head()
	publish("quiet", 10)
	base := readCost(t, srv, e, alone, "quiet", 10)

	behind := head()
	for range 10 {
		publish("busy", 1000)
		publish("quiet2", 1)
	}
	cost := readCost(t, srv, e, behind, "quiet2", 10)
	busy := readCost(t, srv, e, behind, "busy", 10_000)
	t.Logf("Redis time per resume: 10 messages %v alone, %v behind 10,000 of another topic; the 10,000 %v", base, cost, busy)
	var mem []string
	for _, k := range []string{"log", "meta"} { // (the index is in meta)
		n, err := srv.Do("MEMORY", "USAGE", "{"+prefix+":0}:"+k, "SAMPLES", "0")
		if err != nil {
			t.Fatal(err)
		}
		mem = append(mem, fmt.Sprintf("%s %d bytes", k, n))
	}
	t.Logf("after 10,020 messages of 64 bytes: %s", strings.Join(mem, ", "))
	if cost > busy/10 {
		t.Errorf("a resume of 10 messages behind 10,000 of another topic took Redis %v, %.0f%% of a resume of those 10,000 (%v)",
			cost, 100*float64(cost)/float64(busy), busy)
	}
}

// TestRead_IndexNeverTrustedBlindly: a read through the topic index
// never misses a message or returns another topic's. Messages stored
// without indexing (as a publisher of an older version stores them) make
// reads over them scan the range; an index that outlived its epoch (the
// meta hash and stream lost, the index not) is not used, then emptied.
func TestRead_IndexNeverTrustedBlindly(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix}, srv.Addr())
	c := newClient(t, "old", srv.Addr())
	ctx := context.Background()
	// Each message is followed by 10 of a topic never read, so that the
	// reads' ranges are long enough for the indexes to be used.
	pub := func(topic, data string) {
		t.Helper()
		for i := range 11 {
			if i > 0 {
				topic, data = "filler", "filler"
			}
			if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
				t.Fatal(err)
			}
		}
	}
	indexed := true // whether the next reads must go through the indexes
	read := func(from fanout.Position, topics ...string) []string {
		t.Helper()
		before := indexReads(t, srv)
		msgs, _, err := e.Read(ctx, from, topics)
		if used := indexReads(t, srv) > before; used != indexed {
			t.Errorf("Read(%v, %v) read the indexes: %v, want %v", from, topics, used, indexed)
		}
		if err != nil {
			t.Fatalf("Read(%v, %v): %v", from, topics, err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, string(m.Data()))
		}
		return out
	}
	expect := func(got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("read %v, want %v", got, want)
		}
	}

	start, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub("a", "a1")
	pub("b", "b1")
	storeOnly(t, c, prefix, "a", "a2") // indexed, but...
	unindexed(t, c, prefix, "a", "a3") // ...this one is not
	pub("", "all")
	pub("a", "a4")
	mid, _ := e.Head(ctx, 0)
	pub("a", "a5")
	pub("", "all2")
	pub("b", "b2")
	indexed = false // over a message that is not indexed
	expect(read(start, "a"), "a1", "a2", "a3", "all", "a4", "a5", "all2")
	expect(read(start, "b"), "b1", "all", "all2", "b2")
	indexed = true
	expect(read(mid, "a"), "a5", "all2")
	expect(read(mid, "a", "b"), "a5", "all2", "b2")
	expect(read(mid, "b", "c"), "all2", "b2")

	// The history is lost, the indexes are not: a new epoch, whose
	// offsets 1 to 3 are b's.
	for _, k := range []string{"{" + prefix + ":0}:meta", "{" + prefix + ":0}:log"} {
		if _, err := srv.Do("DEL", k); err != nil {
			t.Fatal(err)
		}
	}
	epoch, err := e.Head(ctx, 0)
	if err != nil || epoch.Epoch == start.Epoch || epoch.Offset != 0 {
		t.Fatalf("head after the loss: %v, %v; want a new epoch", epoch, err)
	}
	pub("b", "new-b1")
	pub("b", "new-b2")
	pub("b", "new-b3")
	expect(read(epoch, "a"))
	expect(read(epoch, "b"), "new-b1", "new-b2", "new-b3")
	pub("a", "new-a4")
	expect(read(epoch, "a"), "new-a4")
	expect(read(epoch, "a", "b"), "new-b1", "new-b2", "new-b3", "new-a4")
}

// unindexed stores data on topic in partition 0 of prefix without
// indexing it in this version's index, as a publisher of the version
// before does (its publish script, internal/script/testdata/zset: the
// index in a sorted set of its own), and without an expiry (as before
// the keys had one).
func unindexed(t *testing.T, c rueidis.Client, prefix, topic, data string) {
	t.Helper()
	tag := "{" + prefix + ":0}"
	err := rueidis.NewLuaScript(oldScript(t, "publish")).Exec(context.Background(), c,
		[]string{tag + ":meta", tag + ":log", tag + ":last"},
		[]string{"old", "1", "", "0", tag + ":live", "0", "1000", "0", topic, "t", data}).Error()
	if err != nil {
		t.Fatal(err)
	}
}

// oldScript returns the publish or read script of the version before
// the topic index moved into the meta hash (internal/script/testdata/zset).
func oldScript(t *testing.T, name string) string {
	t.Helper()
	files := []string{"read"}
	if name == "publish" {
		files = []string{"ensure", "index", "publish"}
	}
	src := ""
	if name == "publish" {
		src = "local publishing = true\n"
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("internal", "script", "testdata", "zset", f+".lua"))
		if err != nil {
			t.Fatal(err)
		}
		src += string(b)
	}
	return src
}

// indexReads returns how many read script calls of srv went through the
// topic index: those that made an HMGET of the topics' last offsets after
// that of the meta hash.
func indexReads(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	n := commandCalls(t, srv, "hmget")
	for _, c := range []string{"evalsha", "eval", "evalsha_ro", "eval_ro"} {
		n -= commandCalls(t, srv, c) // one HMGET each: the meta hash
	}
	return n
}

// commandCalls returns how many times srv has run command (scripts'
// calls included).
func commandCalls(t *testing.T, srv *redistest.Server, command string) int64 {
	t.Helper()
	n, _ := commandStat(t, srv, command, "calls")
	return int64(n)
}

// TestRead_IndexTrimmed: the partition's stream is trimmed
// (HistorySize), and reads through the topic index stay exact.
func TestRead_IndexTrimmed(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistorySize: 100}, srv.Addr())
	ctx := context.Background()
	var want []string
	from := fanout.Position{}
	for i := range 1000 {
		topic := fmt.Sprintf("t%d", i%7)
		if i%50 == 0 {
			topic = "rare"
		}
		if i == 950 {
			h, err := e.Head(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			from = h
		}
		if i >= 950 && topic == "rare" {
			want = append(want, strconv.Itoa(i))
		}
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	if got := indexTopics(t, srv, "{"+prefix+":0}"); len(got) != 8 {
		t.Errorf("the index holds %q; want the 8 topics", got)
	}
	before := commandCalls(t, srv, "hmget")
	msgs, _, err := e.Read(ctx, from, []string{"rare"})
	if err != nil {
		t.Fatal(err)
	}
	if n := commandCalls(t, srv, "hmget") - before; n != 2 {
		t.Errorf("the read made %d HMGETs; want 2 (the meta hash, then the topics' last offsets: the index)", n)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Data()))
	}
	if !slices.Equal(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
}

// TestRead_IndexTrimmedStreamKept: the stream is trimmed approximately
// (whole nodes), so it keeps messages older than HistorySize that the
// index no longer lists; a read from among them gets every one of them
// (from the stream), none missing.
func TestRead_IndexTrimmedStreamKept(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistorySize: 100}, srv.Addr())
	ctx := context.Background()
	for i := range 1050 { // 1,000 would end on a node's boundary
		topic := fmt.Sprintf("t%d", i%7)
		if i%10 == 0 {
			topic = "rare"
		}
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	// What the stream holds, and of it the rare topic's.
	reply, err := srv.Do("XRANGE", "{"+prefix+":0}:log", "-", "+")
	if err != nil {
		t.Fatal(err)
	}
	entries := reply.([]any)
	if len(entries) <= 100+8 {
		t.Fatalf("the stream keeps %d entries; the test needs more than the index (108 at most)", len(entries))
	}
	var want []string
	for _, en := range entries {
		f := en.([]any)[1].([]any)
		if f[1] == "rare" {
			want = append(want, f[5].(string))
		}
	}
	id := entries[0].([]any)[0].(string)
	first, err := strconv.ParseUint(id[:strings.IndexByte(id, '-')], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	from, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	from.Offset = first - 1 // before the oldest kept
	msgs, _, err := e.Read(ctx, from, []string{"rare"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Data()))
	}
	if !slices.Equal(got, want) {
		t.Errorf("read %v,\nwant %v (all the stream holds)", got, want)
	}
}

// TestRead_IndexBounded: the topic index holds the topics of the last
// HistorySize messages at most (and 16 more): a topic that stops
// publishing leaves it, however many topics came and went.
func TestRead_IndexBounded(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, HistorySize: 100}, srv.Addr())
	ctx := context.Background()
	for i := range 3000 { // each message a topic of its own
		if err := e.Publish(ctx, fmt.Sprintf("t%d", i), fanout.NewMessage([]byte("m"))); err != nil {
			t.Fatal(err)
		}
	}
	tag := "{" + prefix + ":0}"
	kept, err := srv.Do("XLEN", tag+":log")
	if err != nil {
		t.Fatal(err)
	}
	topics := indexTopics(t, srv, tag)
	t.Logf("after 3,000 topics: the stream keeps %d messages, the index %d topics", kept, len(topics))
	if n := len(topics); n > 100+16 {
		t.Errorf("the index holds %d topics; want at most HistorySize (100) and 16 more", n)
	}
	if slices.Contains(topics, "t0") {
		t.Errorf("the index holds t0: a topic whose messages the stream lost keeps its field")
	}
}

// indexTopics returns the topics in the topic index of the partition
// whose hash tag is tag: the meta hash's t: fields.
func indexTopics(t *testing.T, srv *redistest.Server, tag string) []string {
	t.Helper()
	reply, err := srv.Do("HKEYS", tag+":meta")
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, f := range reply.([]any) {
		if topic, ok := strings.CutPrefix(f.(string), "t:"); ok {
			topics = append(topics, topic)
		}
	}
	return topics
}

// TestRead_IndexHistorySizeLowered: nodes with a lower HistorySize trim
// the stream and the index further than the nodes before: reads of a
// topic stay exact, from anywhere in the stream.
func TestRead_IndexHistorySizeLowered(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	big, _ := started(t, &fredis.Options{Prefix: prefix, HistorySize: 1000}, srv.Addr())
	small, _ := started(t, &fredis.Options{Prefix: prefix, HistorySize: 100}, srv.Addr())
	ctx := context.Background()
	for i := range 900 {
		e, topic := big, fmt.Sprintf("t%d", i%7)
		if i >= 600 {
			e = small
		}
		if i%9 == 0 {
			topic = "rare"
		}
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	reply, err := srv.Do("XRANGE", "{"+prefix+":0}:log", "-", "+")
	if err != nil {
		t.Fatal(err)
	}
	entries := reply.([]any)
	head, err := small.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for k := range entries {
		var want []string
		for _, en := range entries[k:] {
			if f := en.([]any)[1].([]any); f[1] == "rare" {
				want = append(want, f[5].(string))
			}
		}
		id := entries[k].([]any)[0].(string)
		o, _ := strconv.ParseUint(id[:strings.IndexByte(id, '-')], 10, 64)
		from := head
		from.Offset = o - 1
		msgs, _, err := small.Read(ctx, from, []string{"rare"})
		if err != nil {
			t.Fatalf("Read from %d: %v", from.Offset, err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, string(m.Data()))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Read from %d: %v, want %v", from.Offset, got, want)
		}
	}
}
