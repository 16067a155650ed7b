//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
	"github.com/fanout-go/fanout/internal/harness"
)

// A client subscribed to topics of different partitions (a Redis engine on
// a 3-master Cluster, with its default 16 partitions) reads a steady
// stream through a proxy to node A; the proxy is pointed at node B and its
// connections cut, mid-stream, while publishing goes on (through both
// nodes); the client reconnects, once 100 more are published, now to node
// B, resuming from the
// composite of its partitions' positions, and gets every message of every
// topic exactly once, in each topic's order, and no resync. For the Go
// client (WebSocket and SSE), the JavaScript client in Node.js and in
// Chromium (WebSocket), and Chromium's own EventSource, which resumes
// from the last id field: the Broker writes the composite there.

// partitionsRun is one client's run: two nodes of the cluster, a proxy
// in front of them, and topics of their own.
type partitionsRun struct {
	a, b   *clusterNode
	proxy  *harness.Proxy
	topics []string
}

// partitionsCluster is a cluster and its two nodes, shared by the runs of
// one test (each with topics of its own).
type partitionsCluster struct {
	a, b *clusterNode
	runs int
}

func startPartitionsCluster(t *testing.T) *partitionsCluster {
	addrs := startCluster(t)
	return &partitionsCluster{a: startClusterNode(t, "a", addrs), b: startClusterNode(t, "b", addrs)}
}

// run returns a new run: a proxy to node A, and three topics (their own)
// in three partitions.
func (c *partitionsCluster) run(t *testing.T) *partitionsRun {
	t.Helper()
	c.runs++
	proxy, err := harness.StartProxy(c.a.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(proxy.Close)
	topics := partitioned(t, c.a.engine, 3*c.runs)[3*(c.runs-1):]
	return &partitionsRun{a: c.a, b: c.b, proxy: proxy, topics: topics}
}

// query is the topics' query string.
func (r *partitionsRun) query() string {
	var q []string
	for _, topic := range r.topics {
		q = append(q, "topic="+topic)
	}
	return strings.Join(q, "&")
}

// url returns the proxy's URL of path, with the topics.
func (r *partitionsRun) url(scheme, path string) string {
	return scheme + "://" + r.proxy.Addr() + path + "?" + r.query()
}

// drive runs the scenario once the client is subscribed on node A: got
// returns the payloads it has received so far, in order, and the resyncs
// it was told of.
func (r *partitionsRun) drive(t *testing.T, got func() (msgs, resyncs []string)) {
	t.Helper()
	// Publishing starts once the client's stream has its start (its
	// position): what is published before it, the client does not get.
	waitFor(t, "the client subscribed on node A", func() bool { return r.a.subscribed(r.topics) > 0 })
	resumedA, resumedB := len(r.a.requests(r.topics)), len(r.b.requests(r.topics))

	pub := startPublisher(t, r.topics, r.a, r.b)
	count := func() int {
		m, resyncs := got()
		if len(resyncs) > 0 {
			t.Fatalf("after %d messages, the client was told of a resync: %q", len(m), resyncs)
		}
		return len(m)
	}
	waitFor(t, "100 messages", func() bool { return count() >= 100 })
	// Mid-stream, while the publisher goes on: the client's connection is
	// cut, and its reconnections fail (the proxy finds no server) until
	// 100 more messages are published, which it can get only by resuming.
	nowhere, err := harness.FreePort()
	require.NoError(t, err)
	r.proxy.SetTarget("127.0.0.1:" + strconv.Itoa(nowhere))
	r.proxy.CutAll()
	at, away := count(), pub.total.Load()
	waitFor(t, "100 messages published while the client is away", func() bool { return pub.total.Load() >= away+100 })
	r.proxy.SetTarget(r.b.srv.Listener.Addr().String())
	back := int(pub.total.Load())
	waitFor(t, "the reconnection to node B, and 100 live messages", func() bool {
		return len(r.b.requests(r.topics)) > resumedB && r.b.subscribed(r.topics) > 0 && count() >= back+100
	})
	pub.halt()
	require.NoError(t, pub.err)
	counts := pub.counts()
	total := 0
	for _, n := range counts {
		total += n
	}
	complete := poll(func() bool { return count() >= total })
	msgs, resyncs := got()
	assert.Empty(t, resyncs, "no resync")
	checkExactlyOnce(t, msgs, counts)
	if !complete {
		t.Fatalf("timed out waiting for %d messages: %d came", total, len(msgs))
	}
	t.Logf("%d messages: %d before the cut, %d more before the client could reconnect; %v", total, at, back-at, counts)

	assert.Len(t, r.a.requests(r.topics), resumedA, "one connection to node A")
	reqs := r.b.requests(r.topics)[resumedB:]
	require.Len(t, reqs, 1, "one connection to node B")
	cur, err := fanout.ParseCursor(reqs[0])
	require.NoError(t, err, "the reconnection resumed from %q", reqs[0])
	assert.GreaterOrEqual(t, len(cur), len(r.topics), "the reconnection resumed from a position in each topic's partition: %q", reqs[0])
	for _, topic := range r.topics {
		_, ok := cur.Find(r.a.engine.Partition(topic))
		assert.True(t, ok, "%q has a position in %s's partition", reqs[0], topic)
	}
}

// checkExactlyOnce checks that msgs ("topic:n") hold, for each topic,
// the messages 1 to counts[topic], each once, in order.
func checkExactlyOnce(t *testing.T, msgs []string, counts map[string]int) {
	t.Helper()
	last := map[string]int{}
	bad := 0
	for i, m := range msgs {
		topic, num, _ := strings.Cut(m, ":")
		n, err := strconv.Atoi(num)
		if _, ok := counts[topic]; err != nil || !ok {
			t.Errorf("message %d is %q: not one published", i, m)
		} else if n != last[topic]+1 {
			if bad++; bad <= 10 {
				t.Errorf("message %d is %q, after %s:%d: a gap or a duplicate", i, m, topic, last[topic])
			}
		}
		last[topic] = n
	}
	for topic, n := range counts {
		assert.Equal(t, n, last[topic], "the last message of %s", topic)
	}
}

// waitFor polls cond until it holds, or fails the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// poll polls cond until it holds, and reports whether it did before a
// deadline.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	return true
}

// collected is what a client received, appended to by its reader.
type collected struct {
	mu      sync.Mutex
	msgs    []string
	resyncs []string
}

func (c *collected) add(data string, resync bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if resync {
		c.resyncs = append(c.resyncs, data)
	} else {
		c.msgs = append(c.msgs, data)
	}
}

func (c *collected) get() ([]string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...), append([]string(nil), c.resyncs...)
}

func TestCluster_ResumeAcrossPartitions(t *testing.T) {
	cl := startPartitionsCluster(t)

	for _, tc := range []struct{ name, scheme, path string }{
		{"go websocket", "ws", "/ws"},
		{"go sse", "http", "/events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cl.run(t)
			c, err := client.New(r.url(tc.scheme, tc.path), &client.Options{MaxBackoff: time.Second})
			require.NoError(t, err)
			var got collected
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					m, err := c.Next(context.Background())
					if err != nil {
						return
					}
					got.add(string(m.Data), m.Resync)
				}
			}()
			t.Cleanup(func() { _ = c.Close(); <-done })
			r.drive(t, got.get)
			cur, err := fanout.ParseCursor(c.LastEventID())
			require.NoError(t, err, "LastEventID %q", c.LastEventID())
			assert.GreaterOrEqual(t, len(cur), len(r.topics), "LastEventID %q", c.LastEventID())
		})
	}

	t.Run("js websocket in node", func(t *testing.T) {
		dir := nodeClient(t)
		r := cl.run(t)
		ctx := testContext(t)
		cmd := exec.CommandContext(ctx, "node", "partitions.mjs", r.url("ws", "/ws"))
		cmd.Dir = dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		var got collected
		done := make(chan struct{})
		go func() {
			defer close(done)
			lines := bufio.NewScanner(stdout)
			for lines.Scan() {
				var l struct {
					Data   *string `json:"data"`
					Resync *string `json:"resync"`
				}
				if json.Unmarshal(lines.Bytes(), &l) != nil {
					got.add("unreadable line "+lines.Text(), false)
				}
				switch {
				case l.Data != nil:
					got.add(*l.Data, false)
				case l.Resync != nil:
					got.add(*l.Resync, true)
				}
			}
		}()
		t.Cleanup(func() {
			_ = stdin.Close() // the script closes its subscription and exits
			<-done
			if err := cmd.Wait(); err != nil {
				t.Errorf("node: %v; stderr: %s", err, stderr.String())
			}
		})
		r.drive(t, got.get)
	})

	for _, mode := range []string{"ws", "eventsource"} {
		t.Run("chromium "+mode, func(t *testing.T) {
			browser := newBrowser(t)
			r := cl.run(t)
			p := newPage(t, browser, "http://"+r.proxy.Addr()+"/page?mode="+mode+"&"+r.query())
			r.drive(t, func() ([]string, []string) {
				s := eval[pageGot](p, "({msgs: window.got, resyncs: window.resyncs})")
				return s.Msgs, s.Resyncs
			})
			errs := eval[[]string](p, "window.errors")
			assert.Empty(t, errs, "errors in the page")
		})
	}
}

// pageGot is what partitionsPage received.
type pageGot struct {
	Msgs    []string `json:"msgs"`
	Resyncs []string `json:"resyncs"`
}

// partitionsPage subscribes to the topics of its query (?topic=T&...), as
// mode says: "ws", the JavaScript client over WebSocket; "eventsource",
// the browser's own EventSource, with nothing of fanout's. It keeps what
// it receives in window.got (the payloads) and window.resyncs.
const partitionsPage = `<!doctype html>
<meta charset="utf-8">
<title>partitions</title>
<script type="module">
import { subscribe } from "/fanout.js";
const q = new URLSearchParams(location.search);
const topics = q.getAll("topic").map((t) => "topic=" + encodeURIComponent(t)).join("&");
window.got = [];
window.resyncs = [];
window.errors = [];
if (q.get("mode") === "ws") {
  const sub = subscribe("/ws?" + topics, { transport: "websocket", minDelay: 100, maxDelay: 1000 });
  sub.on("message", (m) => window.got.push(m.data));
  sub.on("resync", (r) => window.resyncs.push(r));
  sub.on("error", (e) => window.errors.push(String(e)));
} else {
  const es = new EventSource("/events?" + topics);
  es.onmessage = (e) => window.got.push(e.data);
  es.addEventListener("fanout.resync", (e) => window.resyncs.push(e.data));
}
</script>
`
