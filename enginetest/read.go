package enginetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
)

func testReadFiltersTopics(t *testing.T, h Harness) {
	n := start(t, h, 1)[0]
	ctx := ctxFor(t, h)
	subscribe(t, ctx, n, "x", "y")
	head := headOf(t, ctx, n, "x")
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
	head := headOf(t, ctx, n, "x")
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
	start := headOf(t, ctx, n, "r")
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
	start := headOf(t, ctx, n, "h")
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
