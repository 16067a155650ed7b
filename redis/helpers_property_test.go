package redis_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
	fredis "github.com/fanout-go/fanout/redis"
)

// propConfig is one run of the multi-node property: publishers on
// several nodes and topics, clients of every kind that reconnect to a
// random other node with their last ID at random moments.
type propConfig struct {
	nodes      []*node    // where clients connect
	plainNodes []*node    // where plain WebSocket clients connect (default: nodes)
	pubNodes   []*node    // publisher p publishes through pubNodes[p%len]
	groups     [][]string // a client subscribes to a subset of one group (of one partition, or several: see spanGroups)
	publishers int
	perPub     int
	budget     int // records per connection, at most (go-sse's Client: 5 times as many)
	clients    int // times the 13 clients
	reader     *fredis.Engine
	events     *nodeEvents
	resyncsOK  bool // a fault may make resuming clients resync

	// midway, if set, is called by publisher 0 at each of these fractions
	// of its messages.
	midway   func(i int)
	midwayAt []float64
}

// seed returns the run's seed: $FANOUT_REDIS_SEED, or a new one, logged
// when the test fails.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("FANOUT_REDIS_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with FANOUT_REDIS_SEED=%d", s)
		}
	})
	return s
}

// runProperty runs cfg and checks that every client ended with exactly
// the published sequence of its topics: (a) per publisher and topic, the
// counters it received are consecutive up to the publisher's last (from
// 1 for a plain client, connected before the first publish), and (b) a
// resuming client's IDs are its first one followed by exactly what the
// history holds after it for its topics.
func runProperty(t *testing.T, cfg propConfig) {
	sd := seed(t)
	rng := rand.New(rand.NewPCG(sd, sd^0x9e3779b97f4a7c15))
	if cfg.plainNodes == nil {
		cfg.plainNodes = cfg.nodes
	}
	var all []string
	for _, g := range cfg.groups {
		all = append(all, g...)
	}
	httpClient := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(httpClient.CloseIdleConnections)

	var clients []*client
	for range cfg.clients {
		for _, k := range []kind{kindWS, kindWS, kindWS, kindWS, kindSSEClient, kindSSEClient, kindSSEClient,
			kindSSERaw, kindSSERaw, kindSSERaw, kindWSPlain, kindWSPlain, kindWSPlain} {
			g := cfg.groups[rng.IntN(len(cfg.groups))]
			var topics []string
			for _, tp := range g {
				if rng.IntN(2) == 0 {
					topics = append(topics, tp)
				}
			}
			c := &client{kind: k, Received: testkit.Received[record]{NoIDs: k == kindWSPlain}, topics: topics, nodes: cfg.nodes, budget: cfg.budget, http: httpClient,
				rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
			if k == kindWSPlain {
				c.nodes = cfg.plainNodes
			}
			if k == kindSSEClient {
				c.budget *= 5
			}
			c.node = rng.IntN(len(c.nodes))
			c.name = fmt.Sprintf("%s#%d%v", k, len(clients), topics)
			clients = append(clients, c)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var clientsWG sync.WaitGroup
	stopClients := sync.OnceFunc(func() { cancel(); clientsWG.Wait() })
	t.Cleanup(stopClients)
	for _, c := range clients {
		clientsWG.Go(func() { c.run(ctx) })
	}
	eventually(t, func() bool {
		return !slices.ContainsFunc(clients, func(c *client) bool { return !c.subscribed.Load() })
	}, "every client subscribed")

	start := time.Now()
	finals := make([]map[string]int, cfg.publishers)
	errs := make(chan error, cfg.publishers)
	var pubWG sync.WaitGroup
	for p := range cfg.publishers {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(p)))
		finals[p] = map[string]int{}
		n := cfg.pubNodes[p%len(cfg.pubNodes)]
		pubWG.Go(func() {
			next := 0
			for i := range cfg.perPub {
				topic := ""
				if (p != 0 || i != 0) && r.IntN(10) != 0 { // the first message is a broadcast: every client gets one
					topic = all[r.IntN(len(all))]
				}
				label := cmp.Or(topic, "*")
				finals[p][label]++
				data := fmt.Appendf(nil, "%d/%s/%d", p, label, finals[p][label])
				pctx, cancel := context.WithTimeout(ctx, waitTimeout)
				err := n.publish(pctx, topic, data, i%2 == 1)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("publisher %d on %s: %w", p, n.name, err)
					return
				}
				if p == 0 && next < len(cfg.midwayAt) && float64(i) >= cfg.midwayAt[next]*float64(cfg.perPub) {
					cfg.midway(next)
					next++
				}
			}
		})
	}
	pubWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	published := time.Since(start)

	// Wait until every client has received the last message of its
	// topics, in every partition it follows.
	expected := make([]map[int][]*fanout.Message, len(clients))
	deadline := time.Now().Add(4 * waitTimeout)
	for pending := slices.Clone(clients); len(pending) > 0; time.Sleep(5 * time.Millisecond) {
		pending = slices.DeleteFunc(pending, func(c *client) bool {
			i := slices.Index(clients, c)
			if c.kind == kindWSPlain {
				return complete(c.Records(), c.topics, finals)
			}
			own := ownPositions(t, cfg.reader, c)
			if expected[i] == nil {
				for _, p := range partitionsOf(cfg.reader, c.topics) {
					if len(own[p]) == 0 {
						return false // nothing of p yet: what to expect after is not known
					}
				}
				expected[i] = map[int][]*fanout.Message{}
				for p, pos := range own {
					expected[i][p] = historyAfter(t, cfg.reader, pos[0], c.topics)
				}
			}
			for p, want := range expected[i] {
				last := own[p][0]
				if n := len(want); n > 0 {
					last = want[n-1].Position()
				}
				if own[p][len(own[p])-1] != last {
					return false
				}
			}
			return true
		})
		for _, c := range pending {
			problems, n := c.Problems(), len(c.Records())
			if len(problems) > 0 && !cfg.resyncsOK {
				t.Fatalf("%s (after %d records): %v", c.name, n, problems)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d records within %v, last %q", c.name, n, 4*waitTimeout, c.LastID())
			}
		}
	}
	stopClients()

	received, sessions := 0, 0
	for i, c := range clients {
		received += len(c.Records())
		sessions += c.sessions
		checkClient(t, cfg.reader, c, expected[i], finals, cfg.resyncsOK)
	}
	if !cfg.resyncsOK && cfg.events.resyncs.Load() != 0 {
		t.Errorf("%d resyncs: every client must resume exactly", cfg.events.resyncs.Load())
	}
	t.Logf("seed %d: %d messages published in %v; %d clients received %d over %d sessions",
		sd, cfg.publishers*cfg.perPub, published.Round(time.Millisecond), len(clients), received, sessions)
}

// historyAfter returns what the history of from's partition holds after
// it for topics (and broadcasts, in the partition of topics' first, or of
// "", whence a subscriber gets them): what a client whose first message
// of that partition was at from must receive of it.
func historyAfter(t *testing.T, eng *fredis.Engine, from fanout.Position, topics []string) []*fanout.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	msgs, _, err := eng.Read(ctx, from, topics)
	if err != nil {
		t.Fatalf("Read after %s: %v", from.ID(), err)
	}
	if from.Partition != homeOf(eng, topics) {
		msgs = slices.DeleteFunc(msgs, func(m *fanout.Message) bool { return m.Topic() == "" })
	}
	return append([]*fanout.Message{}, msgs...)
}

// homeOf returns the partition whose broadcasts a subscriber of topics
// gets: that of its first topic, or of "" for none.
func homeOf(eng *fredis.Engine, topics []string) int {
	if len(topics) == 0 {
		return eng.Partition("")
	}
	return eng.Partition(topics[0])
}

// partitionsOf returns the partitions a subscriber of topics follows.
func partitionsOf(eng *fredis.Engine, topics []string) []int {
	parts := []int{homeOf(eng, topics)}
	for _, t := range topics {
		if p := eng.Partition(t); !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	return parts
}

// ownPositions returns, per partition, the positions of the messages a
// resuming client received, in order: a record's own position, its ID
// (over WebSocket) or the part of its composite ID of the message's
// partition (over SSE: see docs/protocol.md, section 5).
func ownPositions(t *testing.T, eng *fredis.Engine, c *client) map[int][]fanout.Position {
	t.Helper()
	own := map[int][]fanout.Position{}
	for _, r := range c.Records() {
		pos, ok := ownPosition(eng, c.topics, r)
		if !ok {
			t.Fatalf("%s: record %q has no position of its partition in its ID %q", c.name, r.data, r.id)
		}
		own[pos.Partition] = append(own[pos.Partition], pos)
	}
	return own
}

// ownPosition returns r's own position (see ownPositions).
func ownPosition(eng *fredis.Engine, topics []string, r record) (fanout.Position, bool) {
	cur, err := fanout.ParseCursor(r.id)
	if err != nil {
		return fanout.Position{}, false
	}
	p := homeOf(eng, topics)
	if parts := strings.Split(r.data, "/"); len(parts) == 3 && parts[1] != "*" {
		p = eng.Partition(parts[1])
	}
	return cur.Find(p)
}

// complete reports whether a plain client has received every publisher's
// last message of its topics and broadcasts.
func complete(got []record, topics []string, finals []map[string]int) bool {
	last := lastCounters(got)
	for p, f := range finals {
		for label, n := range f {
			if (label == "*" || slices.Contains(topics, label)) && last[strconv.Itoa(p)+"/"+label] != n {
				return false
			}
		}
	}
	return true
}

// lastCounters returns the last counter received per "publisher/label".
func lastCounters(got []record) map[string]int {
	last := map[string]int{}
	for _, r := range got {
		parts := strings.Split(r.data, "/")
		if len(parts) == 3 {
			n, _ := strconv.Atoi(parts[2])
			last[parts[0]+"/"+parts[1]] = n
		}
	}
	return last
}

// checkClient checks what one client received (see runProperty).
func checkClient(t *testing.T, reader *fredis.Engine, c *client, after map[int][]*fanout.Message, finals []map[string]int, resyncsOK bool) {
	t.Helper()
	if problems := c.Problems(); len(problems) > 0 && !resyncsOK {
		t.Errorf("%s: %v", c.name, problems)
		return
	}
	got := c.Records()
	if len(got) == 0 {
		t.Errorf("%s: received nothing", c.name)
		return
	}
	if c.kind != kindWSPlain {
		// (b) Positions, in each partition followed: the first, then
		// exactly what the history holds after it.
		own := map[int][]fanout.Position{}
		for _, r := range got {
			if pos, ok := ownPosition(reader, c.topics, r); ok {
				own[pos.Partition] = append(own[pos.Partition], pos)
			} else {
				t.Errorf("%s: record %q has no position of its partition in its ID %q", c.name, r.data, r.id)
				return
			}
		}
		for p, want := range after {
			gotIDs := make([]string, len(own[p]))
			for i, pos := range own[p] {
				gotIDs[i] = pos.ID()
			}
			wantIDs := []string{own[p][0].ID()}
			for _, m := range want {
				wantIDs = append(wantIDs, m.ID())
			}
			if !slices.Equal(gotIDs, wantIDs) {
				i := 0
				for i < min(len(gotIDs), len(wantIDs)) && gotIDs[i] == wantIDs[i] {
					i++
				}
				t.Errorf("%s: partition %d: %d IDs received, %d expected; first difference at %d: got %v, want %v",
					c.name, p, len(gotIDs), len(wantIDs), i, gotIDs[max(0, i-2):min(len(gotIDs), i+3)], wantIDs[max(0, i-2):min(len(wantIDs), i+3)])
			}
		}
	}
	// (a) Per publisher and topic, consecutive counters up to the last.
	data := make([]string, len(got))
	for i, r := range got {
		data[i] = r.data
	}
	testkit.CheckCounters(t, c.name, data, c.topics, finals, c.kind == kindWSPlain)
}

// topicGroups returns count groups of size topic names, each group in
// one partition of eng, different partitions when it has several.
func topicGroups(eng *fredis.Engine, count, size int) [][]string {
	var groups [][]string
	used := map[int]bool{}
	for k := 0; len(groups) < count; k++ {
		base := "t" + strconv.Itoa(k)
		p := eng.Partition(base)
		if used[p] && len(used) < eng.Partitions() {
			continue
		}
		used[p] = true
		g := []string{base}
		for j := 0; len(g) < size; j++ {
			if name := base + "-" + strconv.Itoa(j); eng.Partition(name) == p {
				g = append(g, name)
			}
		}
		groups = append(groups, g)
	}
	return groups
}

// spanGroups returns count groups of size topic names, each name of a
// group in a different partition of eng (as far as it has partitions):
// a client of a subset of one follows several partitions, and resumes
// them all from one composite ID.
func spanGroups(eng *fredis.Engine, count, size int) [][]string {
	var groups [][]string
	k := 0
	for range count {
		var g []string
		used := map[int]bool{}
		for len(g) < size {
			name := "s" + strconv.Itoa(k)
			k++
			if p := eng.Partition(name); !used[p] || len(used) >= eng.Partitions() {
				used[p] = true
				g = append(g, name)
			}
		}
		groups = append(groups, g)
	}
	return groups
}
