package enginetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/fanout-go/fanout"
)

// testPartitions checks, for an engine of several partitions, what a Hub
// needs to resume a subscriber whose topics span partitions (from a
// position in each: see fanout.Cursor): each partition's head, and a Read
// from it that returns that partition's messages on the topics asked,
// in publish order, with positions of that partition, ignoring the
// topics of other partitions; and a feed that delivers each message with
// a position of its topic's partition.
func testPartitions(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	// Topics until three partitions (or as many as 64 names reach).
	byPart := map[int][]string{}
	for i := 0; i < 64 && len(byPart) < 3; i++ {
		topic := fmt.Sprintf("span%d", i)
		p := n.Partition(topic)
		if len(byPart[p]) < 2 {
			byPart[p] = append(byPart[p], topic)
		}
	}
	if len(byPart) < 2 {
		t.Skip("one partition")
	}
	var topics []string
	parts := make([]int, 0, len(byPart))
	for p, ts := range byPart {
		topics = append(topics, ts...)
		parts = append(parts, p)
	}
	slices.Sort(parts)
	subscribe(t, ctx, n, topics...)
	heads := make(fanout.Cursor, 0, len(parts))
	for _, p := range parts {
		head, err := n.Head(ctx, p)
		if err != nil {
			t.Fatalf("Head(%d): %v", p, err)
		}
		if head.Partition != p {
			t.Fatalf("Head(%d) is of partition %d", p, head.Partition)
		}
		heads = append(heads, head)
	}
	// The Cursor of the heads is what a new subscriber of topics starts
	// from: it must read back.
	if c, err := fanout.ParseCursor(heads.String()); err != nil || len(c) != len(heads) {
		t.Fatalf("ParseCursor(%q) = %v, %v", heads.String(), c, err)
	}
	want := map[int][]string{} // per partition: the data of its topic messages, in order
	count := 0
	for i := range 30 {
		topic := topics[i%len(topics)]
		if i%7 == 6 {
			topic = ""
		}
		data := fmt.Sprintf("%d:%s", i, topic)
		publish(t, ctx, n, topic, data)
		if topic != "" {
			want[n.Partition(topic)] = append(want[n.Partition(topic)], data)
			count++
		}
	}
	// Each topic message is delivered in its topic's partition.
	for _, d := range n.feed.Wait(t, count, h.Timeout) {
		if d.Topic != "" && d.Message.Position().Partition != n.Partition(d.Topic) {
			t.Errorf("%q of topic %q delivered in partition %d, not %d", d.Message.Data(), d.Topic, d.Message.Position().Partition, n.Partition(d.Topic))
		}
	}
	for _, head := range heads {
		p := head.Partition
		msgs, upTo, err := n.Read(ctx, head, topics) // topics of every partition: the others' are ignored
		if err != nil {
			t.Fatalf("Read(%s) of partition %d: %v", head.ID(), p, err)
		}
		if upTo.Partition != p || !upTo.SameLog(head) || upTo.Offset < head.Offset {
			t.Fatalf("Read(%s) read up to %s", head.ID(), upTo.ID())
		}
		var got []string
		for _, m := range msgs {
			if m.Position().Partition != p {
				t.Fatalf("Read(%s) returned %s, of another partition", head.ID(), m.ID())
			}
			if m.Topic() == "" {
				continue // the broadcast's copy in this partition, if the engine stores one here
			}
			if n.Partition(m.Topic()) != p {
				t.Fatalf("Read(%s) returned %q of topic %q, of partition %d", head.ID(), m.Data(), m.Topic(), n.Partition(m.Topic()))
			}
			got = append(got, string(m.Data()))
		}
		if !slices.Equal(got, want[p]) {
			t.Errorf("Read of partition %d from its head = %q, want %q (its topics' messages, in order)", p, got, want[p])
		}
	}
}
