package redis_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
	goclient "github.com/fanout-go/fanout/client"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

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

// Metrics: the engine measures itself for a metrics collector, with
// names that follow Prometheus's rules and values that are its Stats.
func TestEngine_Metrics(t *testing.T) {
	srv := redistest.Start(t)
	n := startNode(t, "m", &fredis.Options{Prefix: newPrefix()}, &nodeEvents{}, srv.Addr())
	for i := range 3 {
		if err := n.publish(context.Background(), "t", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	valid := regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	got := map[string]float64{}
	for _, m := range n.hub.EngineMetrics() {
		if !valid.MatchString(m.Name) || m.Help == "" || m.Counter != strings.HasSuffix(m.Name, "_total") {
			t.Errorf("metric %+v: a Prometheus name, a help text, and _total for counters only", m)
		}
		got[m.Name] = m.Value
	}
	if got["redis_published_total"] != float64(n.eng.Stats().Published) || got["redis_published_total"] != 3 {
		t.Errorf("redis_published_total = %v, Stats().Published = %d, want 3", got["redis_published_total"], n.eng.Stats().Published)
	}
	if len(got) != len(n.eng.Metrics()) {
		t.Errorf("metric names repeat: %v", got)
	}
}
