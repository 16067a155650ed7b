package redis_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// numsub returns how many connections of srv subscribe channel (PUBSUB
// NUMSUB: a standalone server's channels).
func numsub(t *testing.T, srv *redistest.Server, channel string) int64 {
	t.Helper()
	reply, err := srv.Do("PUBSUB", "NUMSUB", channel)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := reply.([]any)
	if !ok || len(r) != 2 {
		t.Fatalf("PUBSUB NUMSUB %s = %v", channel, reply)
	}
	return r[1].(int64)
}

// TestEngine_TopicChannelsComeAndGo: a topic's channel is subscribed by
// the time Subscribe returns, and unsubscribed a CheckInterval or so
// after its last Unsubscribe, while the partition's other topics flow on:
// the node then no longer receives it, and the server's confirmation of
// that unsubscribe is not taken for a dropped subscription (no
// reconnect). Subscribed again, it is delivered again.
func TestEngine_TopicChannelsComeAndGo(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, rec := started(t, &fredis.Options{Prefix: prefix, CheckInterval: 50 * time.Millisecond}, srv.Addr())
	ctx := context.Background()
	chanB := "{" + prefix + ":0}:t:b"
	publish := func(topic, data string) {
		t.Helper()
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
			t.Fatal(err)
		}
	}

	if err := e.Subscribe(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a"})
	if n := numsub(t, srv, chanB); n != 1 {
		t.Fatalf("after Subscribe, %d subscribers of %s, want 1", n, chanB)
	}
	publish("b", "1")
	rec.Wait(t, 1, waitTimeout)

	e.Unsubscribe([]string{"b"})
	eventually(t, func() bool { return numsub(t, srv, chanB) == 0 }, "b's channel unsubscribed")
	publish("b", "2") // nobody here follows b any more
	publish("a", "3")
	got := data(rec.Wait(t, 2, waitTimeout))
	if fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("delivered %v, want [1 3]: b's channel is no longer subscribed", got)
	}

	if err := e.Subscribe(ctx, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"b"})
	if n := numsub(t, srv, chanB); n != 1 {
		t.Fatalf("after Subscribe again, %d subscribers of %s, want 1", n, chanB)
	}
	publish("b", "4")
	if got := data(rec.Wait(t, 3, waitTimeout)); fmt.Sprint(got) != "[1 3 4]" {
		t.Fatalf("delivered %v, want [1 3 4]", got)
	}
	if st := e.Stats(); st.Reconnects != 0 || st.Resyncs != 0 || st.Following != 1 {
		t.Errorf("stats %+v: want no reconnect, no resync, the partition followed throughout", st)
	}
}

// TestEngine_StuckTopicFoundByCheck: the live copy of a message of one
// topic is lost while the partition's other topics were delivered, on a
// connection that stays subscribed (Redis does not do that: the probe
// comes back): the audit of the quiet partition (every check here) reads
// the followed topics after the last delivery, finds it, delivers it,
// and replaces the subscription.
func TestEngine_StuckTopicFoundByCheck(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	raw := newClient(t, "raw", srv.Addr())
	e, rec := started(t, &fredis.Options{Prefix: prefix, CheckInterval: 50 * time.Millisecond}, srv.Addr())
	fredis.SetAuditEvery(e, 1) // the probe cannot see this loss: the audit reads
	ctx := context.Background()
	if err := e.Subscribe(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a", "b"})
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("1"))); err != nil {
		t.Fatal(err)
	}
	storeOnly(t, raw, prefix, "c", "not followed")
	storeOnly(t, raw, prefix, "b", "2")
	got := rec.Wait(t, 2, waitTimeout)
	if fmt.Sprint(data(got)) != "[1 2]" || got[1].Topic != "b" {
		t.Fatalf("delivered %v, want [1 2]", data(got))
	}
	eventually(t, func() bool { st := e.Stats(); return st.Stuck >= 1 && st.Reconnects >= 1 },
		"the check counts the subscription stuck and replaces it")
	if st := e.Stats(); st.Recovered != 1 || st.Resyncs != 0 {
		t.Errorf("stats %+v: want 1 recovered (not c's message), no resync", st)
	}
}

// TestNodes_TopicAddedWhileFlowing: while another node publishes on two
// topics of one partition, a node already following the partition (for
// x) gets subscribers of a new topic y: one resuming from an ID of y's
// history, one new. Each gets y's messages with no gap and no
// duplicate: the resuming one every message after its ID, the new one
// every message from its first on. Three rounds, each with a new topic.
func TestNodes_TopicAddedWhileFlowing(t *testing.T) {
	srv := redistest.Start(t)
	ev := &nodeEvents{}
	opts := fastChecks
	opts.Prefix = newPrefix()
	pub := startNode(t, "pub", &opts, ev, srv.Addr())
	sub := startNode(t, "sub", &opts, ev, srv.Addr())
	openFeed(t, sub, kindWS, []string{"x"}, "") // sub follows the partition
	for round := range 3 {
		y := "y" + strconv.Itoa(round)
		watch := openFeed(t, pub, kindWS, []string{y}, "")
		stop, done := make(chan struct{}), make(chan int, 1)
		go func() {
			i := 0
			defer func() { done <- i }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				err := pub.publish(ctx, "x", []byte("x"), false)
				if err == nil {
					err = pub.publish(ctx, y, []byte(strconv.Itoa(i+1)), false)
				}
				cancel()
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				i++
			}
		}()
		from := watch.expect(t, "1", "2", "3", "4", "5")
		resumed := openFeed(t, sub, kindWS, []string{y}, from)
		fresh := openFeed(t, sub, kindSSERaw, []string{y}, "")
		watch.expect(t, "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20")
		close(stop)
		last := <-done
		publishAll(t, pub, y, "end")

		var want []string
		for i := 6; i <= last; i++ {
			want = append(want, strconv.Itoa(i))
		}
		resumed.expect(t, append(want, "end")...)
		first := fresh.next(t)
		k, err := strconv.Atoi(first.data)
		if err != nil || first.resync || k < 1 || k > last {
			t.Fatalf("round %d: the new subscriber's first record %+v, want a message of %s", round, first, y)
		}
		want = nil
		for i := k + 1; i <= last; i++ {
			want = append(want, strconv.Itoa(i))
		}
		fresh.expect(t, append(want, "end")...)
	}
	if n := ev.resyncs.Load(); n != 0 {
		t.Errorf("%d resyncs", n)
	}
	if st := sub.eng.Stats(); st.Reconnects != 0 {
		t.Errorf("sub: %+v: adding channels needs no reconnect", st)
	}
}

// TestChannels_Cost measures what a node following 3,334 topics of one
// partition costs Redis: the time and Redis CPU to subscribe their
// channels (as a node does when it starts, or after a reconnect), and
// the memory each subscribed channel takes per node. It runs only when
// FANOUT_REDIS_MEASURE is set; the figures are in the package
// documentation.
func TestChannels_Cost(t *testing.T) {
	if os.Getenv("FANOUT_REDIS_MEASURE") == "" {
		t.Skip("set FANOUT_REDIS_MEASURE=1 to measure")
	}
	const topics = 3334
	srv := redistest.Start(t)
	prefix := newPrefix()
	var names []string
	for i := range topics {
		names = append(names, fmt.Sprintf("topic%d", i))
	}
	ctx := context.Background()
	for node := range 3 {
		e, _ := started(t, &fredis.Options{Prefix: prefix}, srv.Addr())
		if err := e.Subscribe(ctx, names[:1]); err != nil { // the partition followed
			t.Fatal(err)
		}
		mem, cpu, start := infoField(t, srv, "memory", "used_memory"), redisCPU(t, srv), time.Now()
		if err := e.Subscribe(ctx, names); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("node %d: subscribed %d channels in %v, Redis CPU %v (%.2f µs per channel), used_memory %+.0f bytes per channel",
			node, topics, took, redisCPU(t, srv)-cpu, float64((redisCPU(t, srv)-cpu).Nanoseconds())/1000/topics,
			(infoField(t, srv, "memory", "used_memory")-mem)/topics)
		if node > 0 {
			continue
		}
		// The catch-up after a reconnect, and the check of a quiet
		// partition whose head moved: a read of the followed topics after
		// the last delivery, here behind 1,000 messages of other topics.
		for i := range 1000 {
			if err := e.Publish(ctx, "other", fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
				t.Fatal(err)
			}
		}
		head, err := e.Head(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		from := head
		from.Offset -= 1000
		cpu, start = redisCPU(t, srv), time.Now()
		msgs, _, err := e.Read(ctx, from, names)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("Read: %d messages, %v", len(msgs), err)
		}
		t.Logf("a read of the %d followed topics behind 1,000 messages of another: %v, Redis CPU %v", topics, time.Since(start), redisCPU(t, srv)-cpu)
		cpu, start = redisCPU(t, srv), time.Now()
		if msgs, _, err = e.Read(ctx, from, names[:1]); err != nil || len(msgs) != 0 {
			t.Fatalf("Read: %d messages, %v", len(msgs), err)
		}
		t.Logf("the same read of one topic: %v, Redis CPU %v", time.Since(start), redisCPU(t, srv)-cpu)

		// The node's own catch-up after its connections were killed, in
		// calls of at most fillChunk topics: the longest script call.
		for _, args := range [][]string{{"CONFIG", "SET", "slowlog-log-slower-than", "0"}, {"CONFIG", "SET", "slowlog-max-len", "10000"}, {"SLOWLOG", "RESET"}} {
			if _, err := srv.Do(args...); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 1000 {
			if err := e.Publish(ctx, "other", fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
				t.Fatal(err)
			}
		}
		cpu = redisCPU(t, srv)
		reconnects := e.Stats().Reconnects
		killClients(t, srv, "node")
		eventually(t, func() bool { st := e.Stats(); return st.Reconnects > reconnects && st.Following == 1 }, "caught up")
		used := redisCPU(t, srv) - cpu
		log, err := srv.Do("SLOWLOG", "GET", "10000")
		if err != nil {
			t.Fatal(err)
		}
		var longest, reads int64
		for _, entry := range log.([]any) {
			f := entry.([]any)
			if args := f[3].([]any); len(args) > 0 && strings.EqualFold(args[0].(string), "evalsha_ro") {
				reads++
				longest = max(longest, f[2].(int64))
			}
		}
		t.Logf("catch-up after a reconnect, behind 1,000 messages of another topic: %d read calls, the longest %d µs; Redis CPU %v in all (with the resubscription)", reads, longest, used)
	}
}

// TestEngine_CatchUpManyTopics: a node follows 600 topics of a partition
// (the catch-up reads them in several calls) when its subscription
// freezes; meanwhile another node publishes on some of them, on a topic
// it does not follow, and a broadcast. The check replaces the
// subscription and the catch-up delivers exactly what the node follows,
// in order, the broadcast once.
func TestEngine_CatchUpManyTopics(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	opts := fastChecks
	opts.Prefix = newPrefix()
	e, rec := started(t, &opts, proxy.Addr())
	pub := newEngine(t, "pub", &opts, srv.Addr())
	ctx := context.Background()
	var topics []string
	for i := range 600 {
		topics = append(topics, "t"+strconv.Itoa(i))
	}
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe(topics)
	publish := func(topic, data string) {
		t.Helper()
		if err := pub.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
			t.Fatal(err)
		}
	}
	publish("t0", "0")
	rec.Wait(t, 1, waitTimeout)
	if n := proxy.FreezeSubscribers(); n != 1 {
		t.Fatalf("froze %d subscription connections, want 1", n)
	}
	want := []string{"0"}
	for i, topic := range []string{"t599", "other", "t300", "", "t1", "other", "t42", "t599"} {
		data := strconv.Itoa(i + 1)
		publish(topic, data)
		if topic != "other" {
			want = append(want, data)
		}
	}
	got := rec.Wait(t, len(want), waitTimeout)
	if fmt.Sprint(data(got)) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", data(got), want)
	}
	st := e.Stats()
	if st.Stuck == 0 || st.Recovered != uint64(len(want)-1) || st.Resyncs != 0 {
		t.Errorf("stats %+v: want the frozen subscription found, %d recovered, no resync", st, len(want)-1)
	}
	if extra := rec.Len() - len(want); extra != 0 {
		t.Errorf("%d deliveries too many", extra)
	}
}
