package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// prefixKeys returns every key of prefix in srv, with its PTTL (-1: no
// expiry). SCAN skips keys that have expired.
func prefixKeys(t *testing.T, srv *redistest.Server, prefix string) map[string]int64 {
	t.Helper()
	keys := map[string]int64{}
	cursor := "0"
	for {
		reply, err := srv.Do("SCAN", cursor, "MATCH", "{"+prefix+"[:}]*", "COUNT", "1000")
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		r := reply.([]any)
		cursor = r[0].(string)
		for _, k := range r[1].([]any) {
			keys[k.(string)] = 0
		}
		if cursor == "0" {
			break
		}
	}
	for k := range keys {
		ttl, err := srv.Do("PTTL", k)
		if err != nil {
			t.Fatalf("PTTL %s: %v", k, err)
		}
		keys[k] = ttl.(int64)
		if ttl.(int64) == -2 { // expired between SCAN and PTTL
			delete(keys, k)
		}
	}
	return keys
}

// partitionKey reports whether key is one of a partition's meta hash,
// stream and topic index (a sorted set), the only keys of the engine
// without an expiry (one of each per partition, whatever the topics and
// nodes).
func partitionKey(key string) bool {
	for _, suffix := range []string{"}:meta", "}:log", "}:last"} {
		if strings.HasSuffix(key, suffix) {
			return true
		}
	}
	return false
}

// TestPresence_KilledNodeKeysExpire: a node holding members on 200
// topics is SIGKILLed. Every key it wrote has an expiry while it lives,
// and once it is dead they are all gone within Options.PresenceTTL, with
// no Presence call to clean them; no other node lists its members.
func TestPresence_KilledNodeKeysExpire(t *testing.T) {
	const presenceTTL = 3 * time.Second
	srv := redistest.Start(t)
	prefix := newPrefix()
	t.Setenv(envChildPresTTL, presenceTTL.String())
	victim := startChild(t, "victim", prefix, srv.Addr())
	reader := newEngine(t, "reader", &fredis.Options{Prefix: prefix}, srv.Addr())
	var topics []string
	for i := range 200 {
		topics = append(topics, fmt.Sprintf("topic%d", i))
	}
	openFeed(t, victim, kindWS, topics, "")
	ctx := context.Background()
	eventually(t, func() bool {
		for _, topic := range []string{topics[0], topics[199]} {
			if m, err := reader.Presence(ctx, topic); err != nil || len(m) != 1 {
				return false
			}
		}
		return true
	}, "the victim's member listed on its first and last topics")

	keys := prefixKeys(t, srv, prefix)
	t.Logf("%d keys while the victim lives", len(keys))
	for k, ttl := range keys {
		if !partitionKey(k) && (ttl < 0 || ttl > presenceTTL.Milliseconds()) {
			t.Errorf("key %s: PTTL %d ms; want an expiry within %v", k, ttl, presenceTTL)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	victim.kill()
	killed := time.Now()
	eventually(t, func() bool {
		for k := range prefixKeys(t, srv, prefix) {
			if !partitionKey(k) {
				return false
			}
		}
		return true
	}, "every key of the killed node gone")
	took := time.Since(killed)
	t.Logf("the killed node's keys were gone %v after the kill (PresenceTTL %v)", took, presenceTTL)
	if limit := presenceTTL + 2*time.Second; took > limit {
		t.Errorf("the killed node's keys lived %v after the kill; want at most %v", took, limit)
	}
	for _, topic := range topics {
		if m, err := reader.Presence(ctx, topic); err != nil || len(m) != 0 {
			t.Fatalf("Presence(%q) after the node died: %v, %v", topic, m, err)
		}
	}
}

// leaveNode is a presence node whose leaves are signalled on left.
func leaveNode(t *testing.T, opts *fredis.Options, addr string) (*presenceNode, chan string) {
	left := make(chan string, 16)
	n := startPresenceNodeWith(t, "a", opts, addr, func(s *fanout.Subscriber, topic string) {
		left <- s.Group()
	})
	return n, left
}

// dialMember connects a WebSocket subscriber of topic in group user.
func dialMember(t *testing.T, n *presenceNode, topic, user string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(n.srv.URL, "http")+"/ws?topic="+topic+"&user="+user, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// TestPresence_LostLeaveRepaired: a subscriber leaves while Redis is
// down, so its removal fails, and Redis comes back from a snapshot that
// still lists it. The node converges Redis to what it holds: the member
// is gone, long before its keys would expire.
func TestPresence_LostLeaveRepaired(t *testing.T) {
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix(), CheckInterval: 100 * time.Millisecond,
		PingTimeout: 500 * time.Millisecond, PresenceTTL: 10 * time.Minute}
	a, left := leaveNode(t, opts, srv.Addr())
	ann := dialMember(t, a, "room", "ann")
	dialMember(t, a, "room", "bob")
	eventually(t, func() bool { return slices.Equal(a.groups(t, "room"), []string{"ann/websocket", "bob/websocket"}) }, "ann and bob listed")

	srv.Save()
	srv.Kill()
	_ = ann.Close(websocket.StatusNormalClosure, "")
	if g := <-left; g != "ann" {
		t.Fatalf("%s left, not ann", g)
	}
	// Presence waits until the node has tried to write the leave (within
	// PingTimeout), then fails, with Redis down.
	ctx, cancel := context.WithTimeout(context.Background(), 10*opts.PingTimeout)
	defer cancel()
	if m, err := a.eng.Presence(ctx, "room"); err == nil {
		t.Fatalf("Presence with Redis down: %v, no error", m)
	}
	srv.Restart() // from the snapshot, which lists ann
	eventually(t, func() bool {
		m, err := a.hub.Presence(context.Background(), "room")
		return err == nil && len(m) == 1 && m[0].Group == "bob"
	}, "ann's lost leave repaired")
}

// TestPresence_RestoredSnapshotRepaired: a leave that Redis acknowledged
// is undone by a restart from an older snapshot: the node rewrites its
// members when it reconnects. Then a member that Redis lists but the node
// does not hold appears with no reconnect at all (written behind the
// node's back): the node's periodic rewrite removes it within a third of
// PresenceTTL, although it shares its key with bob, whom the node keeps
// alive.
func TestPresence_RestoredSnapshotRepaired(t *testing.T) {
	const presenceTTL = 3 * time.Second
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix(), CheckInterval: 100 * time.Millisecond,
		PingTimeout: 500 * time.Millisecond, PresenceTTL: presenceTTL}
	a, left := leaveNode(t, opts, srv.Addr())
	ann := dialMember(t, a, "room", "ann")
	dialMember(t, a, "room", "bob")
	want := []string{"ann/websocket", "bob/websocket"}
	eventually(t, func() bool { return slices.Equal(a.groups(t, "room"), want) }, "ann and bob listed")

	srv.Save()
	_ = ann.Close(websocket.StatusNormalClosure, "")
	<-left
	if got := a.groups(t, "room"); !slices.Equal(got, []string{"bob/websocket"}) {
		t.Fatalf("after ann left: %v", got)
	}
	srv.Restart() // from the snapshot, which lists ann
	onlyBob := func() bool {
		m, err := a.hub.Presence(context.Background(), "room")
		return err == nil && len(m) == 1 && m[0].Group == "bob"
	}
	eventually(t, onlyBob, "ann's undone leave repaired")

	var hash string
	for k := range prefixKeys(t, srv, opts.Prefix) {
		if strings.Contains(k, ":pmembers:") {
			hash = k
		}
	}
	if hash == "" {
		t.Fatal("no hash of the node's members of room")
	}
	if _, err := srv.Do("HSET", hash, "12345", "websocket|ghost"); err != nil {
		t.Fatal(err)
	}
	if got := a.groups(t, "room"); !slices.Equal(got, []string{"bob/websocket", "ghost/websocket"}) {
		t.Fatalf("the ghost is not listed: %v", got)
	}
	written := time.Now()
	eventually(t, onlyBob, "the ghost removed by the periodic rewrite")
	if took, limit := time.Since(written), presenceTTL/3+time.Second; took > limit {
		t.Errorf("the ghost was listed for %v; want at most %v", took, limit)
	}
}

// TestPresence_Cluster: on a Redis Cluster, where a topic's keys share a
// slot and the node heartbeats are elsewhere, members of two nodes are
// listed, and a leave is seen.
func TestPresence_Cluster(t *testing.T) {
	c := redistest.StartCluster(t)
	opts := &fredis.Options{Prefix: newPrefix()}
	a := newEngine(t, "a", opts, c.Addrs()...)
	b := newEngine(t, "b", opts, c.Addrs()...)
	ctx := context.Background()
	groups := func(e *fredis.Engine, topic string) []string {
		t.Helper()
		members, err := e.Presence(ctx, topic)
		if err != nil {
			t.Fatalf("Presence(%q): %v", topic, err)
		}
		var out []string
		for _, m := range members {
			out = append(out, m.Group)
		}
		slices.Sort(out)
		return out
	}
	for i := range 8 {
		topic := fmt.Sprintf("room%d", i)
		a.Join(topic, fanout.Member{Subscriber: 1, Group: "ann", Transport: "websocket"})
		b.Join(topic, fanout.Member{Subscriber: 1, Group: "bob", Transport: "sse"})
	}
	for i := range 8 {
		topic := fmt.Sprintf("room%d", i)
		eventually(t, func() bool { return slices.Equal(groups(a, topic), []string{"ann", "bob"}) }, "ann and bob in "+topic)
	}
	b.Leave("room3", fanout.Member{Subscriber: 1, Group: "bob", Transport: "sse"})
	eventually(t, func() bool { return slices.Equal(groups(a, "room3"), []string{"ann"}) }, "bob gone from room3")
}
