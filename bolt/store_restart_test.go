package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
)

// TestStore_SurvivesSIGKILL is the crash case, for real: a child process
// publishes through a Hub over the Store, from 4 goroutines without end,
// and is killed with SIGKILL in the middle of it (Appends in flight, a
// commit most likely under way). The test then opens the same file, serves
// it, publishes, and has clients that went away before the kill come back
// with their last IDs. See restartScenario for what it checks.
func TestStore_SurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	for _, setting := range []string{"batched", "each", "nosync"} {
		t.Run(setting, func(t *testing.T) {
			t.Parallel()
			restartScenario(t, setting, true)
		})
	}
}

// TestStore_SurvivesGracefulRestart is TestStore_SurvivesSIGKILL with the
// first life ending in Hub.Shutdown and Store.Close.
func TestStore_SurvivesGracefulRestart(t *testing.T) {
	t.Parallel()
	restartScenario(t, "batched", false)
}

// restartSpec is a client of the first life: it goes away after limit
// messages, and comes back to the second life with the last one's ID.
type restartSpec struct {
	name   string
	ws     bool
	topics []string
	limit  int
}

var restartSpecs = []restartSpec{
	// Away for more than restartMaxCount messages: they must resync.
	{"ws-early", true, []string{"a", "b"}, 3},
	{"sse-early", false, []string{"a"}, 3},
	// Away for fewer: they must get exactly what they missed.
	{"ws-a", true, []string{"a"}, 1300},
	{"ws-ab", true, []string{"a", "b"}, 2100},
	{"sse-a", false, []string{"a"}, 1400},
	{"sse-b", false, []string{"b"}, 1500},
	{"sse-ab", false, []string{"a", "b"}, 2150},
}

// restartScenario runs a server's first life in a child process over a
// Store file under setting, with a witness client (all topics, never away)
// and the clients of restartSpecs, until the witness has received
// restartKillAfter messages; ends it (SIGKILL when crash, else a graceful
// shutdown); opens the file in this process and checks that:
//
//   - the epoch is the same: the file kept its history;
//   - every message delivered before the end (all the witness received)
//     is in the store, at its position, with its data; after them come
//     only messages that were being published at the end (each
//     publisher's counter goes on from the witness's, with no gap);
//   - messages published before the clients come back, and live ones
//     after, are delivered;
//   - each client gets exactly, in order, the messages of its topics
//     after its last ID (the witness's and the store's tail, then the
//     second life's), then the live ones; or, when its ID is more than
//     restartMaxCount messages old, the resync signal, then the live ones.
func restartScenario(t *testing.T, setting string, crash bool) {
	path := filepath.Join(t.TempDir(), "fanout.db")
	first := startChild(t, path, setting)
	witness := dial(t, "witness", first.base, true, []string{"a", "b"}, "", 0)
	clients := make([]*client, len(restartSpecs))
	for i, sp := range restartSpecs {
		clients[i] = dial(t, sp.name, first.base, sp.ws, sp.topics, "", sp.limit)
	}
	first.send(t, "publish")
	witness.take(t, restartKillAfter) // the node ends once the witness has this many
	held := make([][]rec, len(clients))
	for i, c := range clients {
		held[i] = c.stopped(t)
	}
	if crash {
		first.kill(t)
	} else {
		first.shutdown(t)
	}
	seen := messages(witness.stopped(t)) // all that was delivered before the end
	for i, r := range seen {
		if offsetOf(t, r.id) != uint64(i+1) {
			t.Fatalf("the witness's message %d is %v: positions must be dense from 1", i, r)
		}
	}
	checkCounters(t, "witness", seen, nil)

	// The second life, in this process.
	store, hub, srv := serveStore(t, path, settings[setting])
	ctx := context.Background()

	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := offsetOf(t, seen[len(seen)-1].id)
	if head.Epoch != epochOf(t, seen[0].id) || head.Offset < last {
		t.Fatalf("reopened at %s; the witness received up to %s: history lost", head.ID(), seen[len(seen)-1].id)
	}
	// The store holds what the witness received, then a tail of messages
	// that were in flight at the end.
	from := head
	from.Offset -= min(head.Offset, restartMaxCount)
	kept, _, err := store.Read(ctx, from, []string{"a", "b"})
	if err != nil {
		t.Fatalf("Read(%s): %v", from.ID(), err)
	}
	all := toRecs(kept, []string{"a", "b"})
	split := int(last - from.Offset) // all[:split] is what the witness received last
	sameRecs(t, "the store against the witness", all[:split], seen[len(seen)-split:])
	tail := all[split:]
	checkCounters(t, "the store's tail", tail, seen)
	t.Logf("%s: witness received %d, then the store held %d more (in flight at the end); head %s",
		setting, len(seen), len(tail), head.ID())

	// Published before the clients come back.
	const missedAfter = 30
	for i := range missedAfter {
		m := fanout.NewMessage([]byte("r-" + strconv.Itoa(i)))
		if err := publish(hub, childTopics[i%len(childTopics)], m); err != nil {
			t.Fatal(err)
		}
	}
	after, _, err := store.Read(ctx, head, []string{"a", "b"})
	if err != nil || len(after) != missedAfter {
		t.Fatalf("Read after the restart's publishes: %d messages, %v", len(after), err)
	}
	history := append(append(seen[:len(seen):len(seen)], tail...), toRecs(after, []string{"a", "b"})...)
	newHead := head.Offset + missedAfter

	back := make([]*client, len(clients))
	exact := 0
	for i, sp := range restartSpecs {
		id := lastID(t, held[i])
		if got := messages(held[i]); len(got) != sp.limit {
			t.Fatalf("%s received %d messages before going away, want %d", sp.name, len(got), sp.limit)
		}
		back[i] = dial(t, sp.name+"-back", srv.URL, sp.ws, sp.topics, id, 0)
		if newHead-offsetOf(t, id) > restartMaxCount {
			if sp.limit > 10 {
				t.Logf("%s: away for %d messages, more than the store keeps", sp.name, newHead-offsetOf(t, id))
			}
			if r := back[i].take(t, 1)[0]; !r.resync {
				t.Fatalf("%s: resumed from evicted %s with %v, want the resync signal", sp.name, id, r)
			}
			continue
		}
		if strings.HasSuffix(sp.name, "-early") {
			t.Fatalf("%s: %s is not evicted at head %d", sp.name, id, newHead)
		}
		exact++
		var want []rec
		for _, r := range history {
			if offsetOf(t, r.id) > offsetOf(t, id) && wants(sp.topics, topicOf(r.data)) {
				want = append(want, r)
			}
		}
		sameRecs(t, sp.name+" resumed from "+id, back[i].take(t, len(want)), want)
	}
	if exact == 0 {
		t.Fatal("no client resumed exactly: the scenario checked resyncs only")
	}

	// Live, after everyone is back.
	var live []*fanout.Message
	for i := range 6 {
		m := fanout.NewMessage([]byte("live-" + strconv.Itoa(i)))
		if err := publish(hub, childTopics[i%len(childTopics)], m); err != nil {
			t.Fatal(err)
		}
		live = append(live, m)
	}
	liveStored, _, err := store.Read(ctx, fanout.Position{Epoch: head.Epoch, Offset: newHead}, []string{"a", "b"})
	if err != nil || len(liveStored) != len(live) {
		t.Fatalf("Read of the live messages: %d, %v", len(liveStored), err)
	}
	for i, sp := range restartSpecs {
		want := toRecs(liveStored, sp.topics)
		sameRecs(t, sp.name+" live", back[i].take(t, len(want)), want)
	}
}

// checkCounters checks that, in rs, each first-life publisher's counters
// ("g<publisher>-<counter>") go up by one with no gap or repeat, going on
// from the last ones in before (which may be nil: then from any first).
func checkCounters(t *testing.T, what string, rs, before []rec) {
	t.Helper()
	next := map[int]int{}
	for _, r := range before {
		p, i := counter(t, r.data)
		next[p] = i + 1
	}
	for _, r := range rs {
		p, i := counter(t, r.data)
		if n, ok := next[p]; ok && i != n {
			t.Fatalf("%s: %s after g%d-%d: a gap or a repeat", what, r, p, n-1)
		}
		next[p] = i + 1
	}
}

func counter(t *testing.T, data string) (publisher, i int) {
	t.Helper()
	if _, err := fmt.Sscanf(data, "g%d-%d", &publisher, &i); err != nil {
		t.Fatalf("not a first-life message: %q", data)
	}
	return publisher, i
}

// topicOf returns the topic that the first or second life published data
// ("g<publisher>-<counter>", "r-<counter>", "live-<counter>") to.
func topicOf(data string) string {
	i, _ := strconv.Atoi(data[strings.LastIndexByte(data, '-')+1:])
	return childTopics[i%len(childTopics)]
}

func offsetOf(t *testing.T, id string) uint64 {
	t.Helper()
	p, err := fanout.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Offset
}

func epochOf(t *testing.T, id string) string {
	t.Helper()
	p, err := fanout.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Epoch
}
