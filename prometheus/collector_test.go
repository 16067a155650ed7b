package fanoutprom_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
)

// serveMetrics registers c in a pedantic registry (which checks that
// Collect sends only what Describe described, consistently) and serves it
// at the returned URL through promhttp.
func serveMetrics(t testing.TB, c prometheus.Collector) (*prometheus.Registry, string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return reg, srv.URL + "/metrics"
}

// statNames are the counters the Collector reads from Stats.
var statNames = map[string]func(fanout.Stats) uint64{
	"fanout_messages_published_total":       func(s fanout.Stats) uint64 { return s.Published },
	"fanout_messages_delivered_total":       func(s fanout.Stats) uint64 { return s.Delivered },
	"fanout_messages_dropped_total":         func(s fanout.Stats) uint64 { return s.Dropped },
	"fanout_batch_writes_total":             func(s fanout.Stats) uint64 { return s.Batches },
	"fanout_socket_writes_total":            func(s fanout.Stats) uint64 { return s.Writes },
	"fanout_bytes_written_total":            func(s fanout.Stats) uint64 { return s.Bytes },
	"fanout_write_timeouts_total":           func(s fanout.Stats) uint64 { return s.Timeouts },
	"fanout_slow_subscribers_closed_total":  func(s fanout.Stats) uint64 { return s.Closed },
	"fanout_slow_subscribers_removed_total": func(s fanout.Stats) uint64 { return s.Removed },
	"fanout_inbound_messages_dropped_total": func(s fanout.Stats) uint64 { return s.InboundDropped },
}

// assertMatchesStats checks a scrape against st: every counter equals its
// Stats field, the subscribers add up to Stats.Subscribers and, when
// observed, every histogram counts Stats.Batches and the messages per
// write add up to Stats.Delivered.
func assertMatchesStats(t *testing.T, e exposition, st fanout.Stats, observed bool) {
	t.Helper()
	for name, field := range statNames {
		v, ok := e.value(name)
		if assert.True(t, ok, "%s exported", name) {
			assert.Equal(t, float64(field(st)), v, name)
		}
	}
	subs, ok := e.value("fanout_subscribers")
	assert.True(t, ok, "fanout_subscribers exported")
	assert.Equal(t, float64(st.Subscribers), subs, "fanout_subscribers, summed over transports")
	for _, name := range []string{"fanout_messages_per_write", "fanout_batch_write_duration_seconds", "fanout_queue_depth_at_write"} {
		count, _, ok := e.histogram(name)
		if !observed {
			assert.False(t, ok, "%s not exported without an Observer", name)
			continue
		}
		if assert.True(t, ok, "%s exported", name) {
			assert.Equal(t, int(st.Batches), int(count), "%s counts every batch", name)
		}
	}
	if observed {
		_, sum, _ := e.histogram("fanout_messages_per_write")
		assert.Equal(t, float64(st.Delivered), sum, "messages per write add up to Delivered")
	}
}

// assertSlowEvents checks fanout_slow_subscribers_total: want by
// "reason/policy", every other combination 0.
func assertSlowEvents(t *testing.T, e exposition, want map[string]float64) {
	t.Helper()
	for _, reason := range []string{"queue_full", "write_timeout"} {
		for _, policy := range []string{"close", "drop", "remove"} {
			v, ok := e.value("fanout_slow_subscribers_total", "reason", reason, "policy", policy)
			assert.True(t, ok, "slow %s/%s exported", reason, policy)
			assert.Equal(t, want[reason+"/"+policy], v, "slow %s/%s", reason, policy)
		}
	}
}

// assertResyncs checks fanout_resyncs_total: want by reason, every other
// reason 0.
func assertResyncs(t *testing.T, e exposition, want map[string]float64) {
	t.Helper()
	for _, reason := range []string{"unknown", "unavailable", "lost"} {
		v, ok := e.value("fanout_resyncs_total", "reason", reason)
		assert.True(t, ok, "resyncs %s exported", reason)
		assert.Equal(t, want[reason], v, "resyncs %s", reason)
	}
}

// A Hub with a Broker attached, with readers on both transports, one
// WebSocket subscriber closed for being slow, and a resume from an
// unknown ID on each transport: scraped over HTTP while live, the
// subscribers by transport; after Shutdown, every counter equals Stats,
// every histogram counts Stats.Batches, one slow event (queue full,
// closed), two resyncs (unknown).
func TestCollector_HubAndBroker(t *testing.T) {
	t.Parallel()
	const queue = 4
	obs := fanoutprom.NewObserver(nil)
	connected := make(chan *fanout.Subscriber, 16)
	resynced := make(chan string, 4)
	onResync := func(s *fanout.Subscriber, _ string, _ error) { resynced <- s.Transport() }
	hub := fanout.NewHub(&fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: obs, QueueSize: queue},
		Replay:          fanout.NewRing(nil),
		OnConnect:       func(s *fanout.Subscriber) { connected <- s },
		OnResync:        onResync,
		PingInterval:    -1,
	})
	t.Cleanup(func() { _ = hub.Close() })
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub, OnResync: onResync, Heartbeat: -1})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/sse", broker)
	srv, ln := gatedServer(t, mux)
	_, metrics := serveMetrics(t, fanoutprom.NewCollector(hub, obs))

	// The slow one first: its connection is the first accepted.
	stalled := dialWS(t, srv.URL+"/ws?topic=t")
	conn := recv(t, ln.conns, "accepted connection")
	slowSub := recv(t, connected, "slow subscriber")
	ws := []*wsClient{dialWS(t, srv.URL+"/ws?topic=t"), dialWS(t, srv.URL+"/ws?topic=t")}
	sse := []*sseClient{openSSE(t, srv.URL+"/sse?topic=t", ""), openSSE(t, srv.URL+"/sse?topic=t", "")}

	// Each message is read by every reader before the next is published,
	// so only the held writer's queue grows: full at message queue+2.
	publish := func(i int) {
		t.Helper()
		require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage(fmt.Appendf(nil, "m%d", i))))
		for _, c := range ws {
			require.Equal(t, fmt.Sprintf("m%d", i), c.next(t))
		}
		for _, c := range sse {
			require.Equal(t, fmt.Sprintf("m%d", i), c.next(t).data)
		}
	}
	entered, release := conn.hold()
	publish(1)
	recv(t, entered, "the slow subscriber's writer held in its write")
	for i := 2; i <= queue+2; i++ {
		publish(i)
	}
	release()
	recv(t, slowSub.Done(), "the slow subscriber's end")
	require.Equal(t, "m1", stalled.next(t), "the held write went on")

	// A resume from an ID that the history never held, on each door.
	resumeWS := dialWS(t, srv.URL+"/ws?topic=t&lastEventId=nosuch-1", fanout.ResumeSubprotocolV2)
	assert.Equal(t, "websocket", recv(t, resynced, "OnResync"))
	resumeSSE := openSSE(t, srv.URL+"/sse?topic=t", "nosuch-1")
	assert.Equal(t, "sse", recv(t, resynced, "OnResync"))
	assert.Equal(t, fanout.ResyncEvent, resumeSSE.next(t).event)
	_ = resumeWS

	live := scrape(t, metrics)
	for transport, want := range map[string]float64{"websocket": 3, "sse": 3} {
		v, ok := live.value("fanout_subscribers", "transport", transport)
		assert.True(t, ok)
		assert.Equal(t, want, v, "live %s subscribers", transport)
	}
	assert.Equal(t, 6, hub.Stats().Subscribers)
	v, _ := live.value("fanout_messages_published_total")
	assert.Equal(t, float64(queue+2), v, "published is counted by the time Publish returns")

	publish(queue + 3)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, hub.Shutdown(ctx))

	st := hub.Stats()
	final := scrape(t, metrics)
	assertMatchesStats(t, final, st, true)
	assert.Equal(t, uint64(1), st.Closed)
	assert.Equal(t, uint64(queue+1), st.Dropped, "the message that found the queue full, and the queue")
	assertSlowEvents(t, final, map[string]float64{"queue_full/close": 1})
	assertResyncs(t, final, map[string]float64{"unknown": 2})
	count, _, _ := final.histogram("fanout_messages_per_write", "transport", "sse")
	assert.NotZero(t, count, "SSE batches observed as such")
	count, _, _ = final.histogram("fanout_messages_per_write", "transport", "websocket")
	assert.NotZero(t, count, "WebSocket batches observed as such")
}

// A standalone Broker whose slow subscriber is kept (PolicyDrop): each
// message it missed is a slow event (queue full, drop) and counts as
// dropped; a Last-Event-ID the history does not hold is a resync.
func TestCollector_Broker(t *testing.T) {
	t.Parallel()
	const queue = 2
	obs := fanoutprom.NewObserver(nil)
	connected := make(chan *fanout.Subscriber, 16)
	broker := fanout.NewBroker(&fanout.BrokerOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: obs, QueueSize: queue, Policy: fanout.PolicyDrop},
		Replay:          fanout.NewRing(nil),
		OnConnect:       func(s *fanout.Subscriber) { connected <- s },
		Heartbeat:       -1,
	})
	t.Cleanup(func() { _ = broker.Close() })
	srv, ln := gatedServer(t, broker)
	_, metrics := serveMetrics(t, fanoutprom.NewCollector(broker, obs))

	stalled := openSSE(t, srv.URL+"/?topic=t", "")
	conn := recv(t, ln.conns, "accepted connection")
	recv(t, connected, "slow subscriber")
	recv(t, stalled.positioned, "the slow subscriber's position") // written: its writer is idle
	reader := openSSE(t, srv.URL+"/?topic=t", "")
	resumer := openSSE(t, srv.URL+"/?topic=t", "nosuch-3")
	assert.Equal(t, fanout.ResyncEvent, resumer.next(t).event)

	publish := func(i int) {
		t.Helper()
		require.NoError(t, broker.Publish(context.Background(), "t", fanout.NewMessage(fmt.Appendf(nil, "m%d", i))))
		require.Equal(t, fmt.Sprintf("m%d", i), reader.next(t).data)
		require.Equal(t, fmt.Sprintf("m%d", i), resumer.next(t).data)
	}
	entered, release := conn.hold()
	publish(1)
	recv(t, entered, "the slow subscriber's writer held in its write")
	for i := 2; i <= queue+3; i++ { // the last two find the queue full
		publish(i)
	}
	release()
	for i := 1; i <= queue+1; i++ {
		require.Equal(t, fmt.Sprintf("m%d", i), stalled.next(t).data, "the slow subscriber gets what was queued")
	}

	live := scrape(t, metrics)
	v, _ := live.value("fanout_subscribers", "transport", "sse")
	assert.Equal(t, float64(3), v, "live SSE subscribers: the slow one stays")
	v, _ = live.value("fanout_subscribers", "transport", "websocket")
	assert.Zero(t, v)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, broker.Shutdown(ctx))
	st := broker.Stats()
	final := scrape(t, metrics)
	assertMatchesStats(t, final, st, true)
	assert.Equal(t, uint64(2), st.Dropped)
	assertSlowEvents(t, final, map[string]float64{"queue_full/drop": 2})
	assertResyncs(t, final, map[string]float64{"unknown": 1})
}

// Without an Observer, the Collector exports what Stats and the
// subscribers tell, and nothing else.
func TestCollector_WithoutObserver(t *testing.T) {
	t.Parallel()
	hub := fanout.NewHub(&fanout.HubOptions{PingInterval: -1})
	t.Cleanup(func() { _ = hub.Close() })
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	_, metrics := serveMetrics(t, fanoutprom.NewCollector(hub, nil))

	c := dialWS(t, srv.URL+"/?topic=t")
	require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("hello"))))
	assert.Equal(t, "hello", c.next(t))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, hub.Shutdown(ctx))

	e := scrape(t, metrics)
	assertMatchesStats(t, e, hub.Stats(), false)
	assert.Equal(t, uint64(1), hub.Stats().Delivered)
	for name := range e {
		assert.False(t, strings.HasPrefix(name, "fanout_slow_subscribers_total") || strings.HasPrefix(name, "fanout_resyncs"),
			"%s exported without an Observer", name)
	}
}

// The Collector's metrics follow Prometheus's naming conventions, as its
// linter checks them.
func TestCollector_Lint(t *testing.T) {
	t.Parallel()
	obs := fanoutprom.NewObserver(nil)
	hub := fanout.NewHub(&fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: obs},
		Engine:          measuredEngine{Engine: fanout.NewLocalEngine(nil)},
	})
	t.Cleanup(func() { _ = hub.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(fanoutprom.NewCollector(hub, obs))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}
