package redis_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// netOutput returns how many bytes srv has sent its clients.
func netOutput(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	return int64(infoField(t, srv, "stats", "total_net_output_bytes"))
}

// TestReadPage_CostsWhatItReturns: a page of 10 messages read from the
// start of a history of 2,000 messages of 1 KiB costs Redis the transfer
// of those 10 (and its script time about what they take), not of the
// 2,000, whether the topic fills the range (the range is scanned) or is
// a quiet one (its index is read).
func TestReadPage_CostsWhatItReturns(t *testing.T) {
	srv := redistest.Start(t)
	e, _ := started(t, &fredis.Options{Prefix: newPrefix()}, srv.Addr())
	ctx := context.Background()
	start, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Read(ctx, start, nil); err != nil { // loads the script: its first call is counted apart
		t.Fatal(err)
	}
	data := []byte(strings.Repeat("h", 1024))
	const total = 2000
	for i := range total {
		topic := "busy"
		if i%50 == 0 {
			topic = "quiet" // 40 of them
		}
		if err := e.Publish(ctx, topic, fanout.NewMessage(data)); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{"busy", "quiet"} {
		before := netOutput(t, srv)
		calls0, took0 := scriptTime(t, srv)
		page, upTo, err := e.ReadPage(ctx, start, []string{topic}, fanout.ReadLimit{Messages: 10})
		if err != nil || len(page) != 10 {
			t.Fatalf("%s: ReadPage: %d messages, %v; want 10", topic, len(page), err)
		}
		sent := netOutput(t, srv) - before
		calls, took := scriptTime(t, srv)
		t.Logf("%s: a page of 10 from the start of %d: Redis sent %d bytes, %d read script(s) took %v", topic, total, sent, calls-calls0, took-took0)
		if sent > 20*1024 {
			t.Errorf("%s: a page of 10 messages of 1 KiB cost %d bytes of Redis output; want about 10 KiB", topic, sent)
		}
		if upTo != page[9].Position() {
			t.Errorf("%s: the page ends at %s, its last message is %s", topic, upTo.ID(), page[9].ID())
		}
	}
}

// TestReadPage_PagesAreTheRead: over a history whose topic index covers
// only part of the range (a message stored unindexed, as an older
// publisher stores it), pages of every size, read one after the other,
// with every bound on what one script call may scan, return exactly what
// one Read does, each from where the previous one stopped, the last one
// ending at the head.
func TestReadPage_PagesAreTheRead(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix}, srv.Addr())
	c := newClient(t, "old", srv.Addr())
	ctx := context.Background()
	start, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub := func(topic string, i int) {
		t.Helper()
		if err := e.Publish(ctx, topic, fanout.NewMessage([]byte(fmt.Sprintf("%s%d%s", topic, i, strings.Repeat(".", i%7))))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		switch {
		case i == 100:
			unindexed(t, c, prefix, "a", "a-unindexed")
		case i%37 == 0:
			pub("", i)
		case i%11 == 0:
			pub("a", i)
		case i%5 == 0:
			pub("b", i)
		default:
			pub("filler", i)
		}
	}
	head, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	froms := []fanout.Position{start, {Epoch: start.Epoch, Offset: 150}, {Epoch: start.Epoch, Offset: 290}, head}
	for _, topics := range [][]string{{"a"}, {"a", "b"}, {"b"}, {"none"}, {"filler"}} {
		for _, from := range froms {
			whole, end, err := e.Read(ctx, from, topics)
			if err != nil {
				t.Fatalf("Read(%s, %v): %v", from.ID(), topics, err)
			}
			if end != head {
				t.Fatalf("Read(%s, %v) ends at %s, want the head %s", from.ID(), topics, end.ID(), head.ID())
			}
			for _, scan := range []int{1, 7, 1024} {
				fredis.SetReadScan(e, scan)
				for _, limit := range []fanout.ReadLimit{{Messages: 1}, {Messages: 3}, {Bytes: 5}, {Messages: 4, Bytes: 30}, {}} {
					var got []*fanout.Message
					at := from
					for pages := 0; ; pages++ {
						if pages > len(whole)+1 {
							t.Fatalf("%v from %s, scan %d, %+v: more pages than messages", topics, from.ID(), scan, limit)
						}
						page, upTo, err := e.ReadPage(ctx, at, topics, limit)
						if err != nil {
							t.Fatalf("%v: ReadPage(%s, scan %d, %+v): %v", topics, at.ID(), scan, limit, err)
						}
						bytes := 0
						for i, m := range page {
							if limit.Full(i, bytes) {
								t.Fatalf("%v: ReadPage(%s, scan %d, %+v) went on after the message that filled the page", topics, at.ID(), scan, limit)
							}
							bytes += len(m.Data())
						}
						if len(page) > 0 && upTo != page[len(page)-1].Position() && limit.Full(len(page), bytes) {
							t.Fatalf("%v: ReadPage(%s, scan %d, %+v): a full page ends at %s, its last message is %s", topics, at.ID(), scan, limit, upTo.ID(), page[len(page)-1].ID())
						}
						got = append(got, page...)
						at = upTo
						if !limit.Full(len(page), bytes) {
							break
						}
					}
					if at != head {
						t.Errorf("%v from %s, scan %d, %+v: the last page ends at %s, want the head %s", topics, from.ID(), scan, limit, at.ID(), head.ID())
					}
					if !slices.EqualFunc(got, whole, func(a, b *fanout.Message) bool {
						return a.ID() == b.ID() && string(a.Data()) == string(b.Data()) && a.Topic() == b.Topic()
					}) {
						t.Errorf("%v from %s, scan %d, %+v: the pages hold %d messages, unlike Read's %d", topics, from.ID(), scan, limit, len(got), len(whole))
					}
				}
			}
			fredis.SetReadScan(e, 0)
		}
	}
}
