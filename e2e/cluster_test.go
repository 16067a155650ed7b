//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/harness"
	"github.com/fanout-go/fanout/js"
	"github.com/fanout-go/fanout/redis"
)

// startCluster starts a Redis Cluster of three masters
// (harness.StartCluster), each a redis-server on a loopback port killed
// when the test ends, and returns their addresses once every node reports
// cluster_state:ok and sees every slot assigned. Without redis-server the
// test skips, or fails under CI.
func startCluster(t *testing.T) []string {
	t.Helper()
	c, err := harness.StartCluster(harness.ClusterOptions{})
	if errors.Is(err, harness.ErrNoRedis) {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found: CI must install it")
		}
		t.Skip("redis-server not found (apt-get install -y redis-server)")
	}
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	return c.Addrs()
}

// clusterNode is one node of an application: a Hub with a Redis engine on
// the cluster (16 partitions, the default on a Cluster) and a Broker
// attached to it, served with the JavaScript client and the test page
// (partitionsPage) on a loopback server:
//
//	GET /ws?topic=T&topic=U     the Hub
//	GET /events?topic=T&...     the Broker (Retry: 100ms)
//	GET /fanout.js              the JavaScript client
//	GET /page                   partitionsPage
type clusterNode struct {
	name   string
	hub    *fanout.Hub
	engine *redis.Engine
	srv    *httptest.Server

	mu        sync.Mutex
	resumed   map[string][]string // by the request's topics ("a,b"): the ID each request to /ws and /events resumed from ("" for none)
	connected map[string]int      // by the request's topics: the subscribers that OnConnect saw
}

func startClusterNode(t *testing.T, name string, addrs []string) *clusterNode {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, ClientName: name, DisableCache: true})
	require.NoError(t, err)
	eng, err := redis.New(rc, nil)
	require.NoError(t, err)
	n := &clusterNode{name: name, engine: eng, resumed: map[string][]string{}, connected: map[string]int{}}
	// OnConnect comes once the subscriber is subscribed: its stream's
	// start (a new one's position, a resumed one's replay) is set.
	n.hub = fanout.NewHub(&fanout.HubOptions{Engine: eng, OnConnect: func(s *fanout.Subscriber) {
		n.mu.Lock()
		n.connected[strings.Join(s.Request().URL.Query()["topic"], ",")]++
		n.mu.Unlock()
	}})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: n.hub, Retry: 100 * time.Millisecond})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", n.record(n.hub))
	mux.Handle("GET /events", n.record(broker))
	mux.Handle("GET /fanout.js", js.Handler())
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(partitionsPage))
	})
	n.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		n.srv.CloseClientConnections()
		_ = broker.Close()
		_ = n.hub.Close() // and the engine
		n.srv.Close()
		rc.Close()
	})
	return n
}

// record records the ID each request resumes from.
func (n *clusterNode) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("lastEventId")
		if v := r.Header.Get("Last-Event-ID"); v != "" {
			id = v
		}
		topics := strings.Join(r.URL.Query()["topic"], ",")
		n.mu.Lock()
		n.resumed[topics] = append(n.resumed[topics], id)
		n.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// requests returns the IDs that the requests for topics so far resumed
// from.
func (n *clusterNode) requests(topics []string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.resumed[strings.Join(topics, ",")]...)
}

// subscribed returns how many subscribers of topics (a request's, in
// its order) have connected so far.
func (n *clusterNode) subscribed(topics []string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected[strings.Join(topics, ",")]
}

// partitioned returns k topics that the engine maps to k different
// partitions, none of them partition 0 (that of broadcasts).
func partitioned(t *testing.T, eng *redis.Engine, k int) []string {
	t.Helper()
	seen := map[int]bool{0: true}
	var topics []string
	for i := 0; len(topics) < k; i++ {
		require.Less(t, i, 10_000, "no %d topics in different partitions", k)
		topic := fmt.Sprintf("t%d", i)
		if p := eng.Partition(topic); !seen[p] {
			seen[p] = true
			topics = append(topics, topic)
		}
	}
	return topics
}

// publisher publishes to each topic in turn, messages "topic:1",
// "topic:2", ..., through each node in turn, until stopped.
type publisher struct {
	topics []string
	nodes  []*clusterNode
	sent   []atomic.Int64 // per topic
	total  atomic.Int64
	stop   chan struct{}
	done   chan struct{}
	err    error
}

func startPublisher(t *testing.T, topics []string, nodes ...*clusterNode) *publisher {
	p := &publisher{topics: topics, nodes: nodes, sent: make([]atomic.Int64, len(topics)),
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			k := i % len(topics)
			n := p.sent[k].Load() + 1
			m := fanout.NewMessage([]byte(fmt.Sprintf("%s:%d", topics[k], n)))
			if err := nodes[i%len(nodes)].hub.Publish(ctx, topics[k], m); err != nil {
				p.err = err
				return
			}
			p.sent[k].Store(n)
			p.total.Add(1)
			time.Sleep(time.Millisecond) // a steady stream, not a flood: pacing, not synchronisation
		}
	}()
	t.Cleanup(p.halt)
	return p
}

// halt stops publishing, and returns how many messages each topic got.
func (p *publisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// counts returns how many messages each topic got; call it after halt.
func (p *publisher) counts() map[string]int {
	out := map[string]int{}
	for k, topic := range p.topics {
		out[topic] = int(p.sent[k].Load())
	}
	return out
}
