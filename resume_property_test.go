package fanout_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
)

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
//
// It runs twice: on a Ring, and on a store that waits 0 to 50 ms (at
// random) around every call, as one that does I/O would, with twice as
// many clients reconnecting more often: resuming is stitched, not locked,
// so many concurrent resumes and slow appends must not break it either.
func TestResume_Property(t *testing.T) {
	t.Parallel()
	t.Run("ring", func(t *testing.T) {
		t.Parallel()
		rsProperty(t, rsPropConfig{perPub: 1500, budget: 200, clients: 1})
	})
	t.Run("slow_store", func(t *testing.T) {
		t.Parallel()
		rsProperty(t, rsPropConfig{perPub: 120, budget: 15, clients: 2, latency: 50 * time.Millisecond})
	})
}

// rsPropConfig sizes a run of TestResume_Property.
type rsPropConfig struct {
	perPub  int           // messages per publisher
	budget  int           // records per connection, at most (go-sse's Client: 5 times as many)
	clients int           // times the 12 clients
	latency time.Duration // a store call waits up to this long; 0: the Ring alone
}

func rsProperty(t *testing.T, cfg rsPropConfig) {
	seed := rsSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed>>1^0x9e3779b97f4a7c15))
	const (
		publishers = 4
		closeEvery = 25 // publisher 0 ends a random subscriber this often
	)
	perPub := cfg.perPub
	topics := []string{"t0", "t1", "t2"}
	var kinds []rsKind
	for range cfg.clients {
		kinds = append(kinds, rsWS, rsWS, rsWS, rsWS, rsWS, rsWS, rsSSEClient, rsSSEClient, rsSSEClient, rsSSERaw, rsSSERaw, rsSSERaw)
	}

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
		if cfg.latency > 0 {
			ho.Replay = &slowStore{ReplayStore: ho.Replay, max: cfg.latency}
		}
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
			rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), budget: cfg.budget}
		if k == rsSSEClient {
			clients[i].budget = 5 * cfg.budget // long connections, which the server ends more often than the client
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
			first := c.FirstID()
			if first == "" {
				return false
			}
			i := slices.Index(clients, c)
			if expected[i] == nil {
				want, err := ringSince(context.Background(), e.ring, first, c.topics)
				require.NoError(t, err, "%s: Since(its first ID)", c.name)
				expected[i] = append([]*fanout.Message{}, want...)
			}
			wantLast := first
			if n := len(expected[i]); n > 0 {
				wantLast = expected[i][n-1].ID()
			}
			return c.LastID() == wantLast
		})
		for _, c := range pending {
			problems, n := c.Problems(), len(c.Records())
			require.Empty(t, problems, "%s (after %d records)", c.name, n)
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d records within %v, last %q", c.name, n, 4*waitTimeout, c.LastID())
			}
		}
	}
	// Resyncs counted now: stopping the clients cancels reconnections
	// in flight, whose replay then fails with their request's context
	// (a resync nobody receives).
	resyncs := len(e.resyncs)
	stopClients()

	received, drops, retries := 0, 0, 0
	for i, c := range clients {
		received += len(c.Records())
		drops += int(c.drops.Load())
		retries += c.retries
		rsCheckClient(t, c, expected[i], finals)
	}
	assert.Zero(t, resyncs, "no resync: the Ring holds the whole run")
	t.Logf("seed %d: %d messages published in %v; %d clients received %d; %d connections: %d client disconnects, %d server closes (go-sse's Client reconnected by itself %d times)",
		seed, publishers*perPub, published.Round(time.Millisecond), len(clients), received,
		connects.Load(), drops, closes.Load(), retries)
}

// rsCheckClient checks what one client of TestResume_Property received.
func rsCheckClient(t *testing.T, c *rsPropClient, after []*fanout.Message, finals []map[string]int) {
	t.Helper()
	got := c.Records()
	if !assert.Empty(t, c.Problems(), c.name) || !assert.NotEmpty(t, got, c.name) {
		return
	}
	// (b) The IDs are the first one, then exactly what the Ring holds
	// after it for the client's topics, in order.
	gotIDs := make([]string, len(got))
	gotData := make([]string, len(got))
	for i, r := range got {
		gotIDs[i], gotData[i] = r.id, r.data
	}
	wantIDs := append([]string{got[0].id}, rsIDs(after)...)
	wantData := []string{got[0].data}
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
	testkit.CheckCounters(t, c.name, gotData, c.topics, finals, false)
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
