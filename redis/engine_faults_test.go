package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// fastChecks makes the followers check idle partitions often, so that
// the fault tests see a check soon.
var fastChecks = fredis.Options{CheckInterval: 100 * time.Millisecond, PingTimeout: 500 * time.Millisecond}

// TestFault_ClientKill: CLIENT KILL of every Redis connection of one
// node, three times during the property run (publishers on the two other
// nodes): the node reconnects and recovers what it missed from the
// stream. Every client still ends with exactly the published sequence,
// with no resync.
func TestFault_ClientKill(t *testing.T) {
	srv := redistest.Start(t)
	ev := &nodeEvents{}
	nodes, reader := startNodes(t, 3, ev, fredis.Options{}, srv.Addr())
	killed := 0
	runProperty(t, propConfig{
		nodes: nodes, pubNodes: []*node{nodes[0], nodes[2]}, groups: topicGroups(reader, 1, 3),
		publishers: 4, perPub: 400, budget: 60, clients: 1, reader: reader, events: ev,
		midwayAt: []float64{0.25, 0.5, 0.75},
		midway:   func(int) { killed += killClients(t, srv, "node1") },
	})
	st := nodes[1].eng.Stats()
	t.Logf("killed %d connections; node1: %+v", killed, st)
	if killed == 0 || st.Reconnects == 0 {
		t.Errorf("killed %d connections, node1 reconnected %d times: the fault did not happen", killed, st.Reconnects)
	}
	if st.Resyncs != 0 {
		t.Errorf("node1 resynced %d times: it must recover from the stream", st.Resyncs)
	}
}

// TestFault_RestartEmpty: redis-server restarted without its data. The
// subscribers of both nodes get the resync signal (and OnResync runs)
// even though nothing is published after the restart: a node's periodic
// check finds the new epoch. Messages published after are delivered, and
// a client resuming from an ID of before gets the resync signal.
func TestFault_RestartEmpty(t *testing.T) {
	srv := redistest.Start(t)
	ev := &nodeEvents{}
	nodes, _ := startNodes(t, 2, ev, fastChecks, srv.Addr())
	var feeds []*feed
	for _, n := range nodes {
		feeds = append(feeds, openFeed(t, n, kindWS, []string{"a"}, ""), openFeed(t, n, kindSSERaw, []string{"a"}, ""))
	}
	publishAll(t, nodes[0], "a", "1", "2", "3")
	var oldID string
	for _, f := range feeds {
		oldID = f.expect(t, "1", "2", "3")
	}

	srv.Restart() // empty: no persistence
	for _, f := range feeds {
		f.expectResync(t)
	}
	eventually(t, func() bool { return ev.resyncs.Load() >= int64(len(feeds)) }, "OnResync for every subscriber")
	// A client's first command after the restart may fail on its dead
	// connection (EOF): Publish cannot know whether such a write was
	// stored, so it is not retried. Let node1's client reconnect first
	// (each of its connections: it publishes to a topic nobody follows
	// until one is stored; a Head alone may succeed on another).
	eventually(t, func() bool {
		return nodes[1].publish(context.Background(), "warm-up", []byte("x"), false) == nil
	}, "node1 publishes on the restarted Redis")
	publishAll(t, nodes[1], "a", "4", "5")
	for _, f := range feeds {
		f.expect(t, "4", "5")
	}
	before := ev.resyncs.Load()
	late := openFeed(t, nodes[1], kindWS, []string{"a"}, oldID)
	late.expectResync(t)
	eventually(t, func() bool { return ev.resyncs.Load() > before }, "OnResync for a client resuming from an old epoch")
	for i, n := range nodes {
		if st := n.eng.Stats(); st.Epochs == 0 || st.Resyncs == 0 {
			t.Errorf("node%d: %+v; want a new epoch found and a resync", i, st)
		}
	}
}

// TestFault_RedisDown: redis-server stopped for 5 seconds (and back with
// the data it saved). Publish fails with a clear error within its
// context; subscribers stay connected. Once Redis is back, a server that
// restarted from a dump cannot be told from one that lost the writes
// after its dump (TestFault_SnapshotRollback), so the subscribers get
// the resync signal, then what is published next, with no gap.
func TestFault_RedisDown(t *testing.T) {
	srv := redistest.Start(t)
	ev := &nodeEvents{}
	nodes, _ := startNodes(t, 2, ev, fredis.Options{}, srv.Addr())
	var feeds []*feed
	for _, n := range nodes {
		feeds = append(feeds, openFeed(t, n, kindWS, []string{"a"}, ""), openFeed(t, n, kindSSERaw, []string{"a"}, ""))
	}
	publishAll(t, nodes[0], "a", "1", "2")
	for _, f := range feeds {
		f.expect(t, "1", "2")
	}

	srv.Save() // so that it comes back with its data
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := nodes[0].publish(ctx, "a", []byte("lost"), false)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "fanout/redis: publish to partition 0") {
		t.Fatalf("Publish with Redis down = %v; want a fanout/redis error", err)
	}
	t.Logf("Publish with Redis down: %v", err)
	time.Sleep(5 * time.Second) // the outage itself
	for _, f := range feeds {
		if !f.alive() {
			t.Fatalf("%s was disconnected while Redis was down", f.name)
		}
	}
	srv.Restart()
	eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return nodes[1].publish(ctx, "a", []byte("3"), false) == nil
	}, "a publish once Redis is back")
	eventually(t, func() bool {
		return nodes[0].eng.Stats().Resyncs > 0 && nodes[1].eng.Stats().Resyncs > 0
	}, "both nodes resync their subscribers")
	publishAll(t, nodes[0], "a", "4")
	for _, f := range feeds {
		expectAfterRollback(t, f, nil, []string{"3", "4"})
	}
	if n := ev.resyncs.Load(); n != int64(len(feeds)) {
		t.Errorf("%d resyncs, want one per subscriber", n)
	}
}

// TestFault_SlowRedis: every byte to and from Redis waits 20 ms in a
// proxy (a round trip gains 40 ms). The property holds: exact resumes, no
// resync.
func TestFault_SlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	proxy.SetDelay(20 * time.Millisecond)
	ev := &nodeEvents{}
	nodes, reader := startNodes(t, 3, ev, fredis.Options{}, proxy.Addr())
	runProperty(t, propConfig{
		nodes: nodes, pubNodes: nodes, groups: topicGroups(reader, 1, 3),
		publishers: 6, perPub: 60, budget: 20, clients: 1, reader: reader, events: ev,
	})
	if lag := nodes[0].eng.Stats().MaxLag; lag < 20*time.Millisecond {
		t.Errorf("max feed lag %v through a proxy that delays by 20ms", lag)
	}
}

// TestFault_StuckSubscription: a node's subscription connection stops
// delivering while it stays open (centrifugo#1189: after a failover).
// The node's idle check pings it, gets no answer, subscribes again on a
// new connection and recovers the messages it missed from the stream:
// its clients get them all, in order, with no resync.
func TestFault_StuckSubscription(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	ev := &nodeEvents{}
	opts := fastChecks
	opts.Prefix = newPrefix()
	stuck := startNode(t, "stuck", &opts, ev, proxy.Addr())
	pub := startNode(t, "pub", &opts, ev, srv.Addr())
	feeds := []*feed{openFeed(t, stuck, kindWS, []string{"a"}, ""), openFeed(t, stuck, kindSSERaw, []string{"a"}, "")}
	publishAll(t, pub, "a", "1", "2")
	for _, f := range feeds {
		f.expect(t, "1", "2")
	}
	if n := proxy.FreezeSubscribers(); n != 1 {
		t.Fatalf("froze %d subscription connections, want 1", n)
	}
	publishAll(t, pub, "a", "3", "4", "5")
	for _, f := range feeds {
		f.expect(t, "3", "4", "5")
	}
	st := stuck.eng.Stats()
	if st.Stuck == 0 || st.Recovered < 3 {
		t.Errorf("stats %+v: want a stuck subscription found and 3 messages recovered", st)
	}
	if n := ev.resyncs.Load(); n != 0 {
		t.Errorf("%d resyncs", n)
	}
}

// TestFault_NodeKilled: one of three nodes, each in a process of its
// own, is killed (SIGKILL) in the middle of a burst; its clients resume
// on the other nodes, exactly.
func TestFault_NodeKilled(t *testing.T) {
	srv := redistest.Start(t)
	ev := &nodeEvents{}
	prefix := newPrefix()
	opts := fredis.Options{Prefix: prefix, HistorySize: propHistory}
	local := startNode(t, "local", &opts, ev, srv.Addr())
	victim := startChild(t, "victim", prefix, srv.Addr())
	other := startChild(t, "other", prefix, srv.Addr())
	reader := newEngine(t, "reader", &opts, srv.Addr())
	nodes := []*node{local, victim, other}
	runProperty(t, propConfig{
		nodes: nodes, plainNodes: []*node{local}, pubNodes: []*node{local, other},
		groups: topicGroups(reader, 1, 3), publishers: 4, perPub: 400, budget: 80, clients: 1,
		reader: reader, events: ev,
		midwayAt: []float64{0.5},
		midway:   func(int) { victim.kill() },
	})
	if victim.alive.Load() {
		t.Error("the victim was not killed")
	}
}

// TestFault_RestartEmptyBeforeDelivery: a message stored and
// acknowledged, then lost with Redis (restarted empty) before the
// subscribing node got it, its subscription frozen (the soak's failover
// then restart: a promoted replica acknowledges a write and is killed
// within milliseconds). Its clients get it, or the resync signal after
// it; never a silent gap, whatever is published next.
func TestFault_RestartEmptyBeforeDelivery(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	ev := &nodeEvents{}
	opts := fastChecks
	opts.Prefix = newPrefix()
	late := startNode(t, "late", &opts, ev, proxy.Addr())
	pub := startNode(t, "pub", &opts, ev, srv.Addr())
	feeds := []*feed{openFeed(t, late, kindWS, []string{"a"}, ""), openFeed(t, late, kindSSERaw, []string{"a"}, "")}
	publishAll(t, pub, "a", "1", "2")
	for _, f := range feeds {
		f.expect(t, "1", "2")
	}
	if n := proxy.FreezeSubscribers(); n != 1 {
		t.Fatalf("froze %d subscription connections, want 1", n)
	}
	publishAll(t, pub, "a", "3") // acknowledged; the late node's check finds it 500ms on at the earliest
	srv.Restart()                // empty: "3" is gone
	for _, f := range feeds {
		r := f.next(t)
		if !r.resync && r.data == "3" {
			r = f.next(t)
		}
		if !r.resync {
			t.Fatalf("%s: got %+v after 2, want 3 or the resync signal, then the resync signal", f.name, r)
		}
	}
	eventually(t, func() bool {
		// Its first commands may fail on its dead connections (see
		// TestFault_RestartEmpty), a Head's and a Publish's alike: it
		// publishes to a topic nobody follows until one is stored.
		return pub.publish(context.Background(), "warm-up", []byte("x"), false) == nil
	}, "pub publishes on the restarted Redis")
	publishAll(t, pub, "a", "4")
	for _, f := range feeds {
		f.expect(t, "4")
	}
}
