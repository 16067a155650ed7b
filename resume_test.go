package fanout_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// rsTransport opens a client of an rsEnv over one transport.
type rsTransport struct {
	name       string
	ws         bool // else SSE
	viaQuery   bool // resume with ?lastEventId= rather than a Last-Event-ID header
	standalone bool // SSE: a Broker with its own Ring, no Hub
}

func (tr rsTransport) open(t testing.TB, e *rsEnv, topics []string, lastID string) *rsFeed {
	t.Helper()
	if tr.ws {
		return e.rsOpenWS(t, topics, lastID, tr.viaQuery, fanout.ResumeSubprotocol)
	}
	return e.rsOpenSSE(t, topics, lastID, tr.viaQuery)
}

// door is the hook (Hub's or Broker's) that sees this transport's clients.
func (tr rsTransport) door() string {
	if tr.ws {
		return "hub"
	}
	return "broker"
}

var rsTransports = []rsTransport{
	{name: "sse_header", standalone: true},
	{name: "sse_query", viaQuery: true, standalone: true},
	{name: "sse_attached_header"},
	{name: "sse_attached_query", viaQuery: true},
	{name: "ws_query", ws: true, viaQuery: true},
	{name: "ws_header", ws: true},
}

// TestResume_Simple: a client that read 2 of 1..5 and went away while
// 6..10 were published gets exactly 3..10 when it comes back with the ID
// of 2 (messages of another topic, published in between, excluded), then
// live messages.
func TestResume_Simple(t *testing.T) {
	t.Parallel()
	for _, tr := range rsTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := rsServer(t, nil, tr.standalone, nil)
			feed := tr.open(t, e, []string{"t"}, "")
			for i := 1; i <= 5; i++ {
				e.publish(t, "t", strconv.Itoa(i))
				e.publish(t, "other", "x"+strconv.Itoa(i))
			}
			got := feed.take(t, 2)
			require.Equal(t, []string{"1", "2"}, rsData(got))
			require.NotEmpty(t, got[0].id)
			require.NotEmpty(t, got[1].id)
			require.NotEqual(t, got[0].id, got[1].id)
			feed.close()

			for i := 6; i <= 10; i++ {
				e.publish(t, "t", strconv.Itoa(i))
				e.publish(t, "other", "x"+strconv.Itoa(i))
			}
			feed = tr.open(t, e, []string{"t"}, got[1].id)
			replayed := feed.take(t, 8)
			assert.Equal(t, nums(3, 11), rsData(replayed))
			ids := map[string]bool{got[0].id: true, got[1].id: true}
			for _, r := range replayed {
				assert.False(t, r.resync)
				assert.NotEmpty(t, r.id)
				assert.False(t, ids[r.id], "ID %q seen twice", r.id)
				ids[r.id] = true
			}
			e.publish(t, "t", "11")
			live := feed.next(t)
			assert.Equal(t, "11", live.data, "nothing after 10 but what is published next")
			assert.NotEmpty(t, live.id)
			assert.Zero(t, len(e.resyncs), "no resync")
		})
	}
}

// TestResume_EvictedResyncs: a client coming back with an ID whose
// successors were evicted gets the resync signal, then live messages, and
// the door it came through reports it with an error wrapping ErrUnknownID.
func TestResume_EvictedResyncs(t *testing.T) {
	t.Parallel()
	for _, tr := range rsTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := rsServer(t, &fanout.RingOptions{Size: 4}, tr.standalone, nil)
			feed := tr.open(t, e, []string{"t"}, "")
			e.publish(t, "t", "1")
			first := feed.next(t)
			require.Equal(t, "1", first.data)
			feed.close()
			for i := 2; i <= 10; i++ { // 9 more: 5 past what the ring keeps
				e.publish(t, "t", strconv.Itoa(i))
			}

			feed = tr.open(t, e, []string{"t"}, first.id)
			rsExpectResync(t, feed, tr)
			e.publish(t, "t", "live")
			live := feed.next(t)
			assert.Equal(t, "live", live.data, "after the resync signal: live messages")
			assert.False(t, live.resync)
			assert.NotEmpty(t, live.id)

			r := recv(t, e.resyncs, "OnResync")
			assert.Equal(t, tr.door(), r.door)
			assert.Equal(t, first.id, r.lastID)
			require.ErrorIs(t, r.err, fanout.ErrUnknownID)
			assert.NotNil(t, r.sub)
		})
	}
}

// rsExpectResync reads the next record of feed, which must be the resync
// signal of an unknown ID.
func rsExpectResync(t *testing.T, feed *rsFeed, tr rsTransport) {
	t.Helper()
	r := feed.next(t)
	require.True(t, r.resync, "want a resync signal, got %+v", r)
	assert.Equal(t, "unknown", r.data)
	if !tr.ws {
		assert.Equal(t, fanout.ResyncEvent, r.event)
	}
}

// TestResume_ServerRestart: after a restart (a new Ring, a new Hub or
// Broker), an ID from before resyncs, even though the new Ring has a
// message with the same sequence number: it is not the same history.
func TestResume_ServerRestart(t *testing.T) {
	t.Parallel()
	for _, tr := range rsTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			before := rsServer(t, nil, tr.standalone, nil)
			feed := tr.open(t, before, []string{"t"}, "")
			before.publish(t, "t", "a")
			before.publish(t, "t", "b")
			got := feed.take(t, 2)
			require.Equal(t, []string{"a", "b"}, rsData(got))
			require.NoError(t, before.close())
			feed.close()

			after := rsServer(t, nil, tr.standalone, nil)
			for _, d := range []string{"c", "d", "e"} {
				after.publish(t, "t", d)
			}
			feed = tr.open(t, after, []string{"t"}, got[0].id)
			rsExpectResync(t, feed, tr)
			after.publish(t, "t", "live")
			assert.Equal(t, "live", feed.next(t).data, "not the new server's history")
			r := recv(t, after.resyncs, "OnResync")
			require.ErrorIs(t, r.err, fanout.ErrUnknownID)
			assert.Equal(t, got[0].id, r.lastID)
		})
	}
}

// TestResume_PlainWebSocketGetsRawFrames: a WebSocket client that does not
// offer ResumeSubprotocol gets ordinary frames without IDs, and no replay,
// even when it sends a last-event ID.
func TestResume_PlainWebSocketGetsRawFrames(t *testing.T) {
	t.Parallel()
	e := rsServer(t, nil, false, nil)
	resumer := e.rsOpenWS(t, []string{"t"}, "", true, fanout.ResumeSubprotocol)
	for i := 1; i <= 3; i++ {
		e.publish(t, "t", strconv.Itoa(i))
	}
	ids := resumer.take(t, 3)
	require.NotEmpty(t, ids[0].id)

	for _, viaQuery := range []bool{true, false} {
		plain := e.rsOpenWS(t, []string{"t"}, ids[0].id, viaQuery)
		sub := recv(t, e.subs, "subscriber")
		for sub.Subprotocol() == fanout.ResumeSubprotocol { // the resumer's
			sub = recv(t, e.subs, "subscriber")
		}
		assert.Empty(t, sub.Subprotocol())
		e.publish(t, "t", "4")
		require.NoError(t, e.hub.Publish(context.Background(), "t", fanout.NewBinaryMessage([]byte{0, 5})))
		got := plain.take(t, 2)
		assert.Equal(t, rsRecord{data: "4", raw: true}, got[0], "no replay, no ID: a plain text frame")
		assert.Equal(t, rsRecord{data: "\x00\x05", binary: true, raw: true}, got[1])
		plain.close()
	}
	assert.Zero(t, len(e.resyncs), "no resync for a client that did not ask to resume")
}

// rsData returns the payloads of rs.
func rsData(rs []rsRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.data
	}
	return out
}

// rsKind is how a property-test client connects.
type rsKind int

const (
	rsWS        rsKind = iota // coder/websocket with ResumeSubprotocol; reconnects itself
	rsSSEClient               // go-sse's Client: reconnects by itself when the server ends the stream
	rsSSERaw                  // a plain request read with sse.Read; reconnects itself
)

func (k rsKind) String() string {
	return [...]string{"ws", "sse-client", "sse-raw"}[k]
}

// rsSeed returns the property test's seed: $FANOUT_RESUME_SEED, or a new
// one. It is logged when the test fails, to replay the run.
func rsSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FANOUT_RESUME_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "FANOUT_RESUME_SEED")
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with FANOUT_RESUME_SEED=%d", seed)
		}
	})
	return seed
}

// TestResume_Property is the resume guarantee under load: publishers on
// several topics (and broadcasts), through the Hub and the Broker attached
// to it, at full speed; WebSocket and SSE clients on random subsets of
// topics that go away at random points (and are ended by the server at
// others) and come back with their last ID. Every client must end with
// exactly the published sequence of its topics from its first message on,
// checked two independent ways: (a) per publisher and topic, the counters
// it received are consecutive up to the publisher's last, and (b) its IDs
// are its first one followed by what the Ring holds after it for its
// topics.
func TestResume_Property(t *testing.T) {
	t.Parallel()
	seed := rsSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed>>1^0x9e3779b97f4a7c15))
	const (
		publishers = 4
		perPub     = 1500
		closeEvery = 25 // publisher 0 ends a random subscriber this often
	)
	topics := []string{"t0", "t1", "t2"}
	kinds := []rsKind{rsWS, rsWS, rsWS, rsWS, rsWS, rsWS, rsSSEClient, rsSSEClient, rsSSEClient, rsSSERaw, rsSSERaw, rsSSERaw}

	var (
		subsMu   sync.Mutex
		subs     []*fanout.Subscriber
		connects atomic.Int64
		closes   atomic.Int64
	)
	onConnect := func(s *fanout.Subscriber) {
		connects.Add(1)
		subsMu.Lock()
		subs = append(subs, s)
		subsMu.Unlock()
	}
	e := rsServer(t, &fanout.RingOptions{Size: 1 << 14}, false, func(ho *fanout.HubOptions, bo *fanout.BrokerOptions) {
		ho.OnConnect, bo.OnConnect = onConnect, onConnect
		ho.QueueSize = 1 << 16 // more than the run publishes: no client is ever slow
	})
	// closeOne ends a random live subscriber of a client of kind k that
	// has already written something (so that a go-sse Client has an ID to
	// come back with).
	closeOne := func(r *rand.Rand, k rsKind) {
		subsMu.Lock()
		defer subsMu.Unlock()
		subs = slices.DeleteFunc(subs, func(s *fanout.Subscriber) bool { return !isOpen(s.Done()) })
		var ready []*fanout.Subscriber
		for _, s := range subs {
			if s.Delivered() > 0 && s.Request().URL.Query().Get("client") == k.String() {
				ready = append(ready, s)
			}
		}
		if len(ready) > 0 && ready[r.IntN(len(ready))].Close() == nil {
			closes.Add(1)
		}
	}

	clients := make([]*rsPropClient, len(kinds))
	for i, k := range kinds {
		var sub []string
		for _, tp := range topics {
			if rng.IntN(2) == 0 {
				sub = append(sub, tp)
			}
		}
		clients[i] = &rsPropClient{name: fmt.Sprintf("%s#%d%v", k, i, sub), kind: k, topics: sub, env: e,
			rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), budget: 200}
		if k == rsSSEClient {
			clients[i].budget = 1000 // long connections, which the server ends more often than the client
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var clientsWG sync.WaitGroup
	stopClients := sync.OnceFunc(func() { cancel(); clientsWG.Wait() })
	t.Cleanup(stopClients) // before the servers close
	for _, c := range clients {
		clientsWG.Go(func() { c.run(ctx) })
	}
	eventually(t, func() bool { return connects.Load() == int64(len(clients)) }, waitTimeout, "every client subscribed")

	start := time.Now()
	finals := make([]map[string]int, publishers) // per publisher: topic label -> last counter
	errs := make(chan error, publishers)
	var pubWG sync.WaitGroup
	for p := range publishers {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(p)))
		finals[p] = map[string]int{}
		pubWG.Go(func() {
			for i := range perPub {
				topic := ""
				if (p != 0 || i != 0) && r.IntN(10) != 0 { // the first message is a broadcast: every client gets one
					topic = topics[r.IntN(len(topics))]
				}
				label := cmp.Or(topic, "*")
				finals[p][label]++
				m := fanout.NewMessage(fmt.Appendf(nil, "%d/%s/%d", p, label, finals[p][label]))
				var err error
				switch {
				case topic == "" && p%2 == 0:
					err = e.hub.Broadcast(ctx, m)
				case topic == "":
					err = e.broker.Broadcast(ctx, m)
				case p%2 == 0:
					err = e.hub.Publish(ctx, topic, m)
				default:
					err = e.broker.Publish(ctx, topic, m)
				}
				if err != nil {
					errs <- err
					return
				}
				if p == 0 && i%closeEvery == closeEvery-1 {
					closeOne(r, rsKind(i/closeEvery%3)) // each kind in turn
				}
			}
		})
	}
	pubWG.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	published := time.Since(start)

	// Wait until every client has received the last message of its
	// topics, as the Ring tells it.
	expected := make([][]*fanout.Message, len(clients))
	deadline := time.Now().Add(4 * waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for pending := slices.Clone(clients); len(pending) > 0; <-tick.C {
		pending = slices.DeleteFunc(pending, func(c *rsPropClient) bool {
			first := c.firstID()
			if first == "" {
				return false
			}
			i := slices.Index(clients, c)
			if expected[i] == nil {
				want, err := e.ring.Since(context.Background(), first, c.topics)
				require.NoError(t, err, "%s: Since(its first ID)", c.name)
				expected[i] = append([]*fanout.Message{}, want...)
			}
			wantLast := first
			if n := len(expected[i]); n > 0 {
				wantLast = expected[i][n-1].ID()
			}
			return c.lastID() == wantLast
		})
		for _, c := range pending {
			c.mu.Lock()
			problems := slices.Clone(c.problems)
			n := len(c.got)
			c.mu.Unlock()
			require.Empty(t, problems, "%s (after %d records)", c.name, n)
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d records within %v, last %q", c.name, n, 4*waitTimeout, c.lastID())
			}
		}
	}
	stopClients()

	received, drops, retries := 0, 0, 0
	for i, c := range clients {
		received += len(c.got)
		drops += c.drops
		retries += c.retries
		rsCheckClient(t, c, expected[i], finals)
	}
	assert.Zero(t, len(e.resyncs), "no resync: the Ring holds the whole run")
	t.Logf("seed %d: %d messages published in %v; %d clients received %d; %d connections: %d client disconnects, %d server closes (go-sse's Client reconnected by itself %d times)",
		seed, publishers*perPub, published.Round(time.Millisecond), len(clients), received,
		connects.Load(), drops, closes.Load(), retries)
}

// rsCheckClient checks what one client of TestResume_Property received.
func rsCheckClient(t *testing.T, c *rsPropClient, after []*fanout.Message, finals []map[string]int) {
	t.Helper()
	if !assert.Empty(t, c.problems, c.name) || !assert.NotEmpty(t, c.got, c.name) {
		return
	}
	// (b) The IDs are the first one, then exactly what the Ring holds
	// after it for the client's topics, in order.
	gotIDs := make([]string, len(c.got))
	gotData := make([]string, len(c.got))
	for i, r := range c.got {
		gotIDs[i], gotData[i] = r.id, r.data
	}
	wantIDs := append([]string{c.got[0].id}, rsIDs(after)...)
	wantData := []string{c.got[0].data}
	for _, m := range after {
		wantData = append(wantData, string(m.Data()))
	}
	if i := rsFirstDiff(gotIDs, wantIDs); i >= 0 {
		t.Errorf("%s: %d IDs received, %d expected; first difference at %d: got %v, want %v",
			c.name, len(gotIDs), len(wantIDs), i, rsAround(gotIDs, i), rsAround(wantIDs, i))
	}
	if i := rsFirstDiff(gotData, wantData); i >= 0 {
		t.Errorf("%s: payloads differ at %d: got %v, want %v", c.name, i, rsAround(gotData, i), rsAround(wantData, i))
	}

	// (a) Per publisher and topic, counters consecutive from the first
	// seen to the publisher's last.
	last := map[string]int{}
	for i, d := range gotData {
		parts := strings.Split(d, "/")
		n, err := strconv.Atoi(parts[len(parts)-1])
		if len(parts) != 3 || err != nil {
			t.Errorf("%s: record %d: payload %q", c.name, i, d)
			return
		}
		if parts[1] != "*" && !slices.Contains(c.topics, parts[1]) {
			t.Errorf("%s: record %d: %q of a topic it did not subscribe to", c.name, i, d)
		}
		key := parts[0] + "/" + parts[1]
		if prev, ok := last[key]; ok && n != prev+1 {
			t.Errorf("%s: record %d: %s counter %d after %d (gap or duplicate)", c.name, i, key, n, prev)
			return
		}
		last[key] = n
	}
	for key, n := range last {
		p, _ := strconv.Atoi(key[:strings.IndexByte(key, '/')])
		if want := finals[p][key[strings.IndexByte(key, '/')+1:]]; n != want {
			t.Errorf("%s: %s ends at %d, the publisher's last is %d", c.name, key, n, want)
		}
	}
}

// rsFirstDiff returns the first index where a and b differ, or -1.
func rsFirstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// rsAround returns the elements of s near i, for failure messages.
func rsAround(s []string, i int) []string {
	return s[max(0, i-2):min(len(s), i+3)]
}

// TestResume_Position: with a store, a new stream starts with its position
// (the ID of the last message published before it, and no message), so a
// client that goes away before its first message resumes exactly: it gets
// what was published while it was away, nothing before.
func TestResume_Position(t *testing.T) {
	t.Parallel()
	for _, tr := range rsTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := rsServer(t, nil, tr.standalone, nil)
			witness := tr.open(t, e, []string{"t"}, "")
			for i := 1; i <= 3; i++ {
				e.publish(t, "t", strconv.Itoa(i))
			}
			seen := witness.take(t, 3)
			require.Equal(t, []string{"1", "2", "3"}, rsData(seen))

			late := tr.open(t, e, []string{"t"}, "")
			pos := late.next(t)
			require.True(t, pos.position, "a new stream starts with its position: %+v", pos)
			require.Equal(t, seen[2].id, pos.id, "the ID of the last message before it")
			late.close() // gone before its first message

			e.publish(t, "t", "4")
			e.publish(t, "t", "5")
			back := tr.open(t, e, []string{"t"}, pos.id)
			got := back.take(t, 2)
			assert.Equal(t, []string{"4", "5"}, rsData(got))
			assert.False(t, got[0].position || got[1].position, "a resumed stream has no position")
			assert.Zero(t, len(e.resyncs), "no resync")
		})
	}
}

// TestResume_NoPositionWithoutStore: without a store there is nothing to
// resume from, so a new stream starts with its first message.
func TestResume_NoPositionWithoutStore(t *testing.T) {
	t.Parallel()
	broker := fanout.NewBroker(nil)
	srv := httptest.NewServer(broker)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = broker.Close() })
	require.NoError(t, broker.Publish(context.Background(), "t", fanout.NewMessage([]byte("before"))))
	feed := rsOpenSSEURL(t, srv.Client(), srv.URL+"?topic=t", "", false)
	require.NoError(t, broker.Publish(context.Background(), "t", fanout.NewMessage([]byte("first"))))
	r := feed.next(t)
	assert.Equal(t, "first", r.data)
	assert.False(t, r.position)
}
