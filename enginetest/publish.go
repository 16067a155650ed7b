package enginetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

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
	head := headOf(t, ctx, n, "a")
	if last := got[4].Message.Position(); head != last {
		t.Fatalf("Head = %s after the last delivery at %s", head.ID(), last.ID())
	}
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
