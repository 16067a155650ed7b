// Package enginetest is a conformance suite for implementations of
// fanout.Engine and fanout.ReplayStore, as testing/fstest is for file
// systems: an engine (the in-process one, the Redis one, your own) runs it
// from its own tests, and passes when it keeps the contract that a Hub
// relies on for exact resume: order, dense positions, history bounds,
// head, and concurrent use.
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, enginetest.Harness{
//			New: func(t *testing.T) func(t *testing.T) fanout.Engine {
//				backend := newBackend(t) // fresh and empty
//				return func(t *testing.T) fanout.Engine { return myengine.New(backend) }
//			},
//			Nodes:    3,
//			Capacity: 100,
//		})
//	}
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// Harness describes the engine under test.
type Harness struct {
	// New prepares a fresh, empty backend (a new store, a flushed Redis
	// database) and returns a function that makes an engine on it: one
	// node. Each call of the returned function is another node sharing
	// the backend. Engines are started and closed by the suite.
	New func(t *testing.T) func(t *testing.T) fanout.Engine

	// Nodes is how many engines may share one backend: 1 (the default)
	// for an in-process engine. With more, the suite checks that every
	// node's feed carries every node's publishes, in one order.
	Nodes int

	// Capacity, if positive, is how many messages of one partition the
	// engine's history keeps at least, and at most this many plus what
	// it trims lazily (up to twice as many): the suite checks that a
	// position older than that is refused with ErrUnknownID.
	Capacity int

	// Timeout bounds each wait for a delivery. Defaults to 10s.
	Timeout time.Duration
}

// RunStore runs the suite on the in-process engine over the stores that
// newStore makes (fresh and empty each time), with their capacity (see
// Harness.Capacity).
func RunStore(t *testing.T, newStore func(t *testing.T) fanout.ReplayStore, capacity int) {
	Run(t, Harness{
		New: func(t *testing.T) func(t *testing.T) fanout.Engine {
			store := newStore(t)
			return func(*testing.T) fanout.Engine { return fanout.NewLocalEngine(store) }
		},
		Capacity: capacity,
	})
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Nodes <= 0 {
		h.Nodes = 1
	}
	if h.Timeout <= 0 {
		h.Timeout = 10 * time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"EmptyHead", testEmptyHead},
		{"OrderAndPositions", testOrderAndPositions},
		{"MessageFields", testMessageFields},
		{"Broadcast", testBroadcast},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"HeadFollowsPublishes", testHeadFollowsPublishes},
		{"ReadFiltersTopics", testReadFiltersTopics},
		{"ReadPages", testReadPages},
		{"ReadUnknownPositions", testReadUnknownPositions},
		{"ReadDuringPublishes", testReadDuringPublishes},
		{"HistoryBound", testHistoryBound},
		{"Nodes", testNodes},
		{"SubscribeThenPublish", testSubscribeThenPublish},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// node is a started engine and what its feed received.
type node struct {
	fanout.Engine
	feed *Recorder
}

// start makes and starts n nodes on one fresh backend, closed when t ends.
func start(t *testing.T, h Harness, n int) []*node {
	t.Helper()
	mk := h.New(t)
	nodes := make([]*node, n)
	for i := range nodes {
		e := mk(t)
		f := NewRecorder()
		e.Start(f)
		nodes[i] = &node{Engine: e, feed: f}
		t.Cleanup(func() {
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return nodes
}

func ctxFor(t *testing.T, h Harness) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, ctx context.Context, e fanout.Engine, topic, data string) {
	t.Helper()
	if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
		t.Fatalf("Publish(%q, %q): %v", topic, data, err)
	}
}

func subscribe(t *testing.T, ctx context.Context, e fanout.Engine, topics ...string) {
	t.Helper()
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatalf("Subscribe(%q): %v", topics, err)
	}
	t.Cleanup(func() { e.Unsubscribe(topics) })
}

func testEmptyHead(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	head, err := n.Head(ctx, n.Partition("a"))
	if err != nil {
		t.Fatalf("Head of an empty log: %v", err)
	}
	if head.IsZero() || head.Offset != 0 {
		t.Fatalf("Head of an empty log = %+v, want offset 0 and an epoch", head)
	}
	if head.Partition != n.Partition("a") {
		t.Errorf("Head(%d) is of partition %d", n.Partition("a"), head.Partition)
	}
	msgs, upTo, err := n.Read(ctx, head, []string{"a"})
	if err != nil || len(msgs) != 0 || upTo != head {
		t.Errorf("Read from the empty head = %d messages, %+v, %v; want none, the head, nil", len(msgs), upTo, err)
	}
	if id, err := fanout.ParseID(head.ID()); err != nil || id != head {
		t.Errorf("ParseID(%q) = %+v, %v", head.ID(), id, err)
	}
}

// testOrderAndPositions: one publisher's messages reach the feed in order,
// each partition's offsets dense from the head, with one epoch.
func testOrderAndPositions(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	topics := []string{"a", "b", "c"}
	subscribe(t, ctx, n, topics...)
	const count = 60
	for i := range count {
		publish(t, ctx, n, topics[i%3], fmt.Sprint(i))
	}
	got := n.feed.Wait(t, count, h.Timeout)
	// Each partition's deliveries are in publish order (the order of
	// different partitions' deliveries between them is not set).
	next := map[int]int{} // partition → index of its next publish
	for _, d := range got {
		p := d.Message.Position().Partition
		i := next[p]
		for i < count && n.Partition(topics[i%3]) != p {
			i++
		}
		if i == count || d.Topic != topics[i%3] || string(d.Message.Data()) != fmt.Sprint(i) {
			t.Fatalf("delivery %q on %q in partition %d, want %q on %q (in publish order)", d.Message.Data(), d.Topic, p, fmt.Sprint(i), topics[i%3])
		}
		next[p] = i + 1
	}
	checkDense(t, got)
}

// checkDense checks that each partition's positions in ds follow one
// another with no gap, in one epoch, and that each message carries its
// position's ID and its topic.
func checkDense(t *testing.T, ds []Delivery) {
	t.Helper()
	last := map[int]fanout.Position{}
	for i, d := range ds {
		p := d.Message.Position()
		if p.IsZero() {
			t.Fatalf("delivery %d has no position", i)
		}
		if d.Message.ID() != p.ID() {
			t.Fatalf("delivery %d: ID %q, position %q", i, d.Message.ID(), p.ID())
		}
		if d.Message.Topic() != d.Topic {
			t.Fatalf("delivery %d: delivered for topic %q, Topic() = %q", i, d.Topic, d.Message.Topic())
		}
		if prev, ok := last[p.Partition]; ok {
			if p.Epoch != prev.Epoch || p.Offset != prev.Offset+1 {
				t.Fatalf("delivery %d at %s follows %s: positions must be dense, in one epoch", i, p.ID(), prev.ID())
			}
		}
		last[p.Partition] = p
	}
}

func testMessageFields(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "f")
	msgs := []*fanout.Message{
		fanout.NewMessage([]byte("text")),
		fanout.NewBinaryMessage([]byte{0, 0xff, '\n', 0}),
		fanout.NewMessage([]byte("typed")).WithEvent("price"),
		fanout.NewMessage(nil),
		fanout.NewMessage([]byte("multi\nline\r\nmessage")),
	}
	for _, m := range msgs {
		if err := n.Publish(ctx, "f", m); err != nil {
			t.Fatal(err)
		}
	}
	got := n.feed.Wait(t, len(msgs), h.Timeout)
	head := got[len(got)-1].Message.Position()
	read, _, err := n.Read(ctx, fanout.Position{Epoch: head.Epoch, Partition: head.Partition, Offset: head.Offset - uint64(len(msgs))}, []string{"f"})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(read) != len(msgs) {
		t.Fatalf("Read returned %d messages, want %d", len(read), len(msgs))
	}
	for i, m := range msgs {
		for _, d := range []struct {
			how string
			m   *fanout.Message
		}{{"delivered", got[i].Message}, {"read", read[i]}} {
			if string(d.m.Data()) != string(m.Data()) || d.m.Type() != m.Type() || d.m.Event() != m.Event() {
				t.Errorf("message %d %s as %q %v %q, published as %q %v %q", i, d.how,
					d.m.Data(), d.m.Type(), d.m.Event(), m.Data(), m.Type(), m.Event())
			}
		}
		if read[i].Position() != got[i].Message.Position() {
			t.Errorf("message %d: read at %s, delivered at %s", i, read[i].ID(), got[i].Message.ID())
		}
	}
}

func testBroadcast(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "a")
	publish(t, ctx, n, "", "to all")
	publish(t, ctx, n, "a", "to a")
	var bc, ta []Delivery
	deadline := time.Now().Add(h.Timeout)
	for len(ta) == 0 || len(bc) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("broadcast delivered %d times, topic message %d times", len(bc), len(ta))
		}
		bc, ta = nil, nil
		changed := n.feed.Changed()
		for _, d := range n.feed.Deliveries() {
			if d.Topic == "" {
				bc = append(bc, d)
			} else {
				ta = append(ta, d)
			}
		}
		if len(ta) == 0 || len(bc) == 0 {
			waitChange(changed, deadline)
		}
	}
	// An engine with several partitions stores a broadcast in each, or in
	// the one Partition("") names; a subscriber of "a" gets its copy in
	// the partition of "a", or in Partition("") when there is one.
	pa := n.Partition("a")
	var mine *Delivery
	for i := range bc {
		if p := bc[i].Message.Position().Partition; p == pa || p == n.Partition("") {
			mine = &bc[i]
		}
	}
	if mine == nil {
		t.Fatalf("no copy of the broadcast in partition %d (of \"a\") or %d (of \"\")", pa, n.Partition(""))
	}
	from := mine.Message.Position()
	from.Offset--
	read, _, err := n.Read(ctx, from, []string{"a"})
	if err != nil || len(read) == 0 || read[0].ID() != mine.Message.ID() || read[0].Topic() != "" {
		t.Fatalf("Read for topic a from before the broadcast: %d messages, %v; want the broadcast first", len(read), err)
	}
}

// testConcurrentPublishers: many goroutines publish at once; every message
// is delivered exactly once, each publisher's in its order, each
// partition's positions dense.
func testConcurrentPublishers(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	topics := []string{"a", "b", "c", "d"}
	subscribe(t, ctx, n, topics...)
	const pubs, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, pubs)
	for p := range pubs {
		wg.Go(func() {
			for i := range each {
				m := fanout.NewMessage(fmt.Appendf(nil, "%d/%d", p, i))
				if err := n.Publish(ctx, topics[p%len(topics)], m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := n.feed.Wait(t, pubs*each, h.Timeout)
	checkDense(t, got)
	next := make([]int, pubs)
	for _, d := range got {
		var p, i int
		if _, err := fmt.Sscanf(string(d.Message.Data()), "%d/%d", &p, &i); err != nil || p >= pubs {
			t.Fatalf("unexpected message %q", d.Message.Data())
		}
		if i != next[p] {
			t.Fatalf("publisher %d: message %d delivered after %d", p, i, next[p]-1)
		}
		next[p]++
	}
	if extra := n.feed.Len() - pubs*each; extra != 0 {
		t.Fatalf("%d deliveries too many", extra)
	}
}

func testHeadFollowsPublishes(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "a")
	for i := range 5 {
		publish(t, ctx, n, "a", fmt.Sprint(i))
	}
	got := n.feed.Wait(t, 5, h.Timeout)
	head, err := n.Head(ctx, n.Partition("a"))
	if err != nil {
		t.Fatal(err)
	}
	if last := got[4].Message.Position(); head != last {
		t.Fatalf("Head = %s after the last delivery at %s", head.ID(), last.ID())
	}
}

func testReadFiltersTopics(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "x", "y")
	head, err := n.Head(ctx, n.Partition("x"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	for i := range 12 {
		topic := []string{"x", "y", ""}[i%3]
		if n.Partition(topic) != head.Partition && topic != "" {
			continue
		}
		publish(t, ctx, n, topic, fmt.Sprint(i))
		if topic != "y" {
			want = append(want, fmt.Sprint(i))
		}
	}
	read, upTo, err := n.Read(ctx, head, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, m := range read {
		if m.Topic() == "" && m.Position().Partition != head.Partition {
			continue
		}
		data = append(data, string(m.Data()))
	}
	if !slices.Equal(data, want) {
		t.Fatalf("Read(topics x) = %q, want %q (x and broadcasts, in order)", data, want)
	}
	if len(read) > 0 && upTo.Offset < read[len(read)-1].Position().Offset {
		t.Errorf("Read's position %s is before its last message %s", upTo.ID(), read[len(read)-1].ID())
	}
	none, _, err := n.Read(ctx, head, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range none {
		if m.Topic() != "" {
			t.Fatalf("Read(no topics) returned a message of topic %q: broadcasts only", m.Topic())
		}
	}
}

// testReadPages checks, for an engine that is a fanout.PageReader, that
// its pages, read one after the other until one is not full, are its
// whole Read: each within its limit (a page ends with the message that
// fills it), each read from where the previous one ended, the last one
// ending at the head.
func testReadPages(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	pr, ok := n.Engine.(fanout.PageReader)
	if !ok {
		t.Skip("not a fanout.PageReader")
	}
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "x", "y")
	head, err := n.Head(ctx, n.Partition("x"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		topic := []string{"x", "y", ""}[i%3]
		if n.Partition(topic) != head.Partition && topic != "" {
			continue
		}
		publish(t, ctx, n, topic, strings.Repeat(fmt.Sprint(i%10), 1+i%4))
	}
	whole, end, err := n.Read(ctx, head, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []fanout.ReadLimit{{Messages: 1}, {Messages: 3}, {Bytes: 5}, {Messages: 4, Bytes: 6}, {}} {
		var got []*fanout.Message
		from := head
		for pages := 0; ; pages++ {
			if pages > len(whole)+1 {
				t.Fatalf("%+v: more pages than messages", limit)
			}
			page, upTo, err := pr.ReadPage(ctx, from, []string{"x"}, limit)
			if err != nil {
				t.Fatalf("%+v: ReadPage(%s): %v", limit, from.ID(), err)
			}
			bytes := 0
			for i, m := range page {
				if limit.Full(i, bytes) {
					t.Fatalf("%+v: ReadPage(%s) went on after the message that filled the page", limit, from.ID())
				}
				bytes += len(m.Data())
			}
			if len(page) > 0 && upTo.Offset < page[len(page)-1].Position().Offset {
				t.Fatalf("%+v: ReadPage's position %s is before its last message %s", limit, upTo.ID(), page[len(page)-1].ID())
			}
			got = append(got, page...)
			from = upTo
			if !limit.Full(len(page), bytes) {
				break
			}
		}
		if from != end {
			t.Errorf("%+v: the last page ends at %s, Read at %s", limit, from.ID(), end.ID())
		}
		if !slices.EqualFunc(got, whole, func(a, b *fanout.Message) bool {
			return a.ID() == b.ID() && string(a.Data()) == string(b.Data()) && a.Topic() == b.Topic()
		}) {
			t.Errorf("%+v: the pages hold %d messages, unlike Read's %d", limit, len(got), len(whole))
		}
	}
}

func testReadUnknownPositions(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "a")
	publish(t, ctx, n, "a", "1")
	d := n.feed.Wait(t, 1, h.Timeout)[0]
	at := d.Message.Position()
	cases := map[string]fanout.Position{
		"another epoch":  {Epoch: at.Epoch + "x", Partition: at.Partition, Offset: at.Offset},
		"ahead the head": {Epoch: at.Epoch, Partition: at.Partition, Offset: at.Offset + 1000},
		"far future":     {Epoch: at.Epoch, Partition: at.Partition, Offset: ^uint64(0)},
	}
	for name, p := range cases {
		msgs, _, err := n.Read(ctx, p, []string{"a"})
		if !errors.Is(err, fanout.ErrUnknownID) {
			t.Errorf("%s: Read(%s) = %d messages, %v; want an error wrapping ErrUnknownID", name, p.ID(), len(msgs), err)
		}
	}
	if msgs, _, err := n.Read(ctx, at, []string{"a"}); err != nil || len(msgs) != 0 {
		t.Errorf("Read from the head = %d messages, %v; want none", len(msgs), err)
	}
}

// testReadDuringPublishes: reads made while publishers run always return
// a dense prefix of what the feed delivers, up to the position they
// report: what a resuming subscriber stitches to the live feed.
func testReadDuringPublishes(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "r")
	start, err := n.Head(ctx, n.Partition("r"))
	if err != nil {
		t.Fatal(err)
	}
	count := 200
	if h.Capacity > 0 {
		count = min(count, h.Capacity) // what is read from start is never evicted meanwhile
	}
	done := make(chan error, 1)
	go func() {
		for i := range count {
			if err := n.Publish(ctx, "r", fanout.NewMessage(fmt.Append(nil, i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 20 {
		msgs, upTo, err := n.Read(ctx, start, []string{"r"})
		if err != nil {
			t.Fatalf("Read during publishes: %v", err)
		}
		if !upTo.SameLog(start) || upTo.Offset < start.Offset {
			t.Fatalf("Read's position %s is not after %s", upTo.ID(), start.ID())
		}
		if uint64(len(msgs)) != upTo.Offset-start.Offset {
			t.Fatalf("Read returned %d messages up to %s from %s: not dense", len(msgs), upTo.ID(), start.ID())
		}
		for i, m := range msgs {
			if string(m.Data()) != fmt.Sprint(i) {
				t.Fatalf("Read's message %d is %q", i, m.Data())
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.feed.Wait(t, count, h.Timeout)
}

func testHistoryBound(t *testing.T, h Harness) {
	if h.Capacity <= 0 {
		t.Skip("no Capacity given")
	}
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "h")
	start, err := n.Head(ctx, n.Partition("h"))
	if err != nil {
		t.Fatal(err)
	}
	total := 3*h.Capacity + 10
	for i := range total {
		publish(t, ctx, n, "h", fmt.Sprint(i))
	}
	n.feed.Wait(t, total, h.Timeout)
	if msgs, _, err := n.Read(ctx, start, []string{"h"}); !errors.Is(err, fanout.ErrUnknownID) {
		t.Errorf("Read from before %d evicted messages = %d messages, %v; want ErrUnknownID", total-2*h.Capacity, len(msgs), err)
	}
	recent := start
	recent.Offset += uint64(total - h.Capacity)
	msgs, _, err := n.Read(ctx, recent, []string{"h"})
	if err != nil || len(msgs) != h.Capacity {
		t.Errorf("Read of the last %d messages = %d, %v", h.Capacity, len(msgs), err)
	}
}

// testNodes: with several nodes on one backend, every node's feed carries
// every node's publishes, in one order per partition, with the same
// positions; reads and heads agree across nodes.
func testNodes(t *testing.T, h Harness) {
	if h.Nodes < 2 {
		t.Skip("one node per backend")
	}
	nodes := start(t, h, h.Nodes)
	ctx := ctxFor(t, h)
	for _, n := range nodes {
		subscribe(t, ctx, n, "a", "b")
	}
	const each = 30
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for k := range each {
				if err := n.Publish(ctx, []string{"a", "b"}[k%2], fanout.NewMessage(fmt.Appendf(nil, "%d/%d", i, k))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := each * len(nodes)
	first := byPartition(nodes[0].feed.Wait(t, total, h.Timeout))
	checkDense(t, nodes[0].feed.Deliveries())
	for i, n := range nodes[1:] {
		got := byPartition(n.feed.Wait(t, total, h.Timeout))
		for p, ds := range got {
			for k := range ds {
				if k >= len(first[p]) || ds[k].Message.ID() != first[p][k].Message.ID() || string(ds[k].Message.Data()) != string(first[p][k].Message.Data()) {
					t.Fatalf("node %d's delivery %d of partition %d is %s %q, not node 0's: one order for all", i+1, k, p,
						ds[k].Message.ID(), ds[k].Message.Data())
				}
			}
		}
	}
	for p, ds := range first {
		last := ds[len(ds)-1].Message.Position()
		for i, n := range nodes {
			head, err := n.Head(ctx, p)
			if err != nil || head.Offset < last.Offset || !head.SameLog(last) {
				t.Errorf("node %d: Head = %s, %v; the last delivery was at %s", i, head.ID(), err, last.ID())
			}
		}
	}
}

// byPartition splits ds by partition, keeping their order.
func byPartition(ds []Delivery) map[int][]Delivery {
	m := map[int][]Delivery{}
	for _, d := range ds {
		p := d.Message.Position().Partition
		m[p] = append(m[p], d)
	}
	return m
}

// testSubscribeThenPublish: what is published after Subscribe returns is
// delivered, even on a node that had no subscriber of the topic before,
// and whichever node publishes it.
func testSubscribeThenPublish(t *testing.T, h Harness) {
	nodes := start(t, h, min(h.Nodes, 2))
	ctx := ctxFor(t, h)
	sub, pub := nodes[len(nodes)-1], nodes[0]
	for i, topic := range []string{"late-1", "late-2", "late-3"} {
		subscribe(t, ctx, sub, topic)
		publish(t, ctx, pub, topic, topic)
		var found bool
		deadline := time.Now().Add(h.Timeout)
		for !found && time.Now().Before(deadline) {
			changed := sub.feed.Changed()
			for _, d := range sub.feed.Deliveries() {
				found = found || d.Topic == topic
			}
			if !found {
				waitChange(changed, deadline)
			}
		}
		if !found {
			t.Fatalf("round %d: a message published on %q after Subscribe returned was not delivered", i, topic)
		}
	}
}

// waitChange waits for changed (see Recorder.Changed) until deadline.
func waitChange(changed <-chan struct{}, deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	}
}
