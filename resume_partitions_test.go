package fanout_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// Resuming a subscriber whose topics span partitions (docs/protocol.md,
// sections 5 and 7): over partEngine, topic "a" and broadcasts are in
// partition 0, "b" in 1, "c" in 2.

var ptParts = map[string]int{"a": 0, "b": 1, "c": 2}

// ptPartition is the partition of a test message, named after its topic
// ("bc..." for a broadcast, which a subscriber of "a" gets from 0).
func ptPartition(data string) int {
	if strings.HasPrefix(data, "bc") {
		return 0
	}
	return ptParts[data[:1]]
}

// ptServer starts a Hub (/ws) and an attached Broker (/sse) over eng.
func ptServer(t *testing.T, eng fanout.Engine, adjust func(*fanout.HubOptions)) *rsEnv {
	return rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
		ho.Replay, ho.Engine = nil, eng
		if adjust != nil {
			adjust(ho)
		}
	})
}

// ptClient is a client of one transport that keeps the ID to resume from
// as the Go and JavaScript clients do: over WebSocket, a Cursor that a
// position record sets and each message's ID (one position: checked)
// updates; over SSE, the last id field, which for a subscriber of
// several partitions must be its whole Cursor (checked against what it
// follows: want positions).
type ptClient struct {
	transport string // "ws" or "sse"
	viaQuery  bool
	want      int // the partitions the subscriber follows
	cur       fanout.Cursor
	sse       string
}

// open subscribes to topics, resuming from c's ID when it has one.
func (c *ptClient) open(t *testing.T, e *rsEnv, topics ...string) *rsFeed {
	if c.transport == "ws" {
		return e.rsOpenWS(t, topics, c.id(), c.viaQuery, fanout.ResumeSubprotocolV2)
	}
	return e.rsOpenSSE(t, topics, c.id(), c.viaQuery)
}

// id is the ID the client resumes from.
func (c *ptClient) id() string {
	if c.transport == "ws" {
		return c.cur.String()
	}
	return c.sse
}

// see records r, as the client would, and checks its ID.
func (c *ptClient) see(t *testing.T, r rsRecord) {
	t.Helper()
	if r.resync {
		return // the ID stays
	}
	if c.transport == "sse" {
		cur, err := fanout.ParseCursor(r.id)
		require.NoError(t, err, "SSE id %q", r.id)
		require.Len(t, cur, c.want, "SSE id %q: one position per partition followed", r.id)
		c.sse = r.id
		return
	}
	if r.position {
		cur, err := fanout.ParseCursor(r.id)
		require.NoError(t, err, "position %q", r.id)
		require.Len(t, cur, c.want, "position %q: one position per partition followed", r.id)
		c.cur = cur
		return
	}
	p, err := fanout.ParseID(r.id)
	require.NoError(t, err, "a message record's ID is one position: %q", r.id)
	require.Equal(t, ptPartition(r.data), p.Partition, "the ID %q of %q", r.id, r.data)
	c.cur = c.cur.With(p)
}

// next returns the next record (positions included), seen.
func (c *ptClient) next(t *testing.T, f *rsFeed) rsRecord {
	t.Helper()
	r := f.nextRecord(t)
	c.see(t, r)
	return r
}

// expect reads the messages of want, in any order across partitions but
// in want's order within each, and nothing else.
func (c *ptClient) expect(t *testing.T, f *rsFeed, want ...string) {
	t.Helper()
	var got []string
	for range want {
		r := c.next(t, f)
		require.False(t, r.resync || r.position, "got %+v among the messages; so far %q", r, got)
		got = append(got, r.data)
	}
	for p := range 3 {
		in := func(data []string) []string {
			var out []string
			for _, d := range data {
				if ptPartition(d) == p {
					out = append(out, d)
				}
			}
			return out
		}
		require.Equal(t, in(want), in(got), "partition %d (received %q)", p, got)
	}
}

// ptTransports are the ways the tests resume.
var ptTransports = []struct {
	name      string
	transport string
	viaQuery  bool
}{
	{"ws", "ws", false},
	{"ws_query", "ws", true},
	{"sse", "sse", false},
	{"sse_query", "sse", true},
}

// TestResume_Partitions: a subscriber of topics in three partitions
// resumes each from its composite ID: exactly what it missed, no resync,
// then live messages.
func TestResume_Partitions(t *testing.T) {
	for _, tr := range ptTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := ptServer(t, newPartEngine(3, 0, ptParts), nil)
			c := &ptClient{transport: tr.transport, viaQuery: tr.viaQuery, want: 3}
			f := c.open(t, e, "a", "b", "c")
			r := c.next(t, f)
			require.True(t, r.position, "a new stream starts with its position: %+v", r)
			for _, m := range []string{"a1", "b1", "c1", "bc1"} {
				ptPublish(t, e, m)
			}
			c.expect(t, f, "a1", "b1", "c1", "bc1")
			f.close()

			missed := []string{"a2", "b2", "c2", "bc2", "a3", "b3", "c3", "c4"}
			for _, m := range missed {
				ptPublish(t, e, m)
			}
			f = c.open(t, e, "a", "b", "c")
			c.expect(t, f, missed...)
			ptPublish(t, e, "b5")
			c.expect(t, f, "b5") // and nothing before it: no duplicate
			require.Empty(t, e.resyncs)

			// Once more, from an ID of this stream.
			f.close()
			ptPublish(t, e, "c6")
			ptPublish(t, e, "a6")
			f = c.open(t, e, "a", "b", "c")
			c.expect(t, f, "c6", "a6")
			require.Empty(t, e.resyncs)
		})
	}
}

// ptPublish publishes data to the topic its first letter names ("bc..."
// is broadcast).
func ptPublish(t *testing.T, e *rsEnv, data string) {
	t.Helper()
	if strings.HasPrefix(data, "bc") {
		require.NoError(t, e.hub.Broadcast(context.Background(), fanout.NewMessage([]byte(data))))
		return
	}
	e.publish(t, data[:1], data)
}

// TestResume_PartitionsSingle: a subscriber of one partition of an
// engine of several gets and sends IDs of one position, as with one
// partition; and one that resumes with a composite naming more
// partitions than it follows resumes (the others are ignored).
func TestResume_PartitionsSingle(t *testing.T) {
	eng := newPartEngine(3, 0, ptParts)
	e := ptServer(t, eng, nil)
	for _, tr := range ptTransports {
		t.Run(tr.name, func(t *testing.T) {
			c := &ptClient{transport: tr.transport, viaQuery: tr.viaQuery, want: 1}
			f := c.open(t, e, "b")
			r := c.next(t, f)
			require.True(t, r.position)
			require.NotContains(t, r.id, ".")
			ptPublish(t, e, "b1")
			c.expect(t, f, "b1")
			f.close()
			ptPublish(t, e, "b2")
			ptPublish(t, e, "a2")
			f = c.open(t, e, "b")
			c.expect(t, f, "b2")

			// A composite of more partitions than followed.
			f.close()
			ptPublish(t, e, "b3")
			head, err := eng.Head(context.Background(), 0)
			require.NoError(t, err)
			if c.transport == "ws" {
				c.cur = c.cur.With(head)
			} else {
				cur, err := fanout.ParseCursor(c.sse)
				require.NoError(t, err)
				c.sse = cur.With(head).String()
			}
			f = c.open(t, e, "b")
			c.expect(t, f, "b3")
			require.Empty(t, e.resyncs)
		})
	}
}

// TestResume_PartitionsMissing: a composite ID without a position of a
// partition the subscriber follows (its topics now reach one more) gets
// one resync (unknown), then the composite of every partition's head,
// then live messages: never a silent gap.
func TestResume_PartitionsMissing(t *testing.T) {
	for _, tr := range ptTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := ptServer(t, newPartEngine(3, 0, ptParts), nil)
			c := &ptClient{transport: tr.transport, viaQuery: tr.viaQuery, want: 2}
			f := c.open(t, e, "a", "b")
			require.True(t, c.next(t, f).position)
			ptPublish(t, e, "a1")
			ptPublish(t, e, "b1")
			c.expect(t, f, "a1", "b1")
			f.close()
			ptPublish(t, e, "c1")
			last := c.id()

			c.want = 3
			f = c.open(t, e, "a", "b", "c")
			r := c.next(t, f)
			require.True(t, r.resync, "want a resync, got %+v", r)
			require.Equal(t, fanout.ResyncUnknown.String(), r.data)
			r = c.next(t, f)
			require.True(t, r.position, "want the position after the resync, got %+v", r)
			ptPublish(t, e, "c2")
			c.expect(t, f, "c2")
			rs := <-e.resyncs
			require.ErrorIs(t, rs.err, fanout.ErrUnknownID)
			require.Equal(t, last, rs.lastID)
			require.Contains(t, rs.err.Error(), "partition 2")
			require.Empty(t, e.resyncs)
		})
	}
}

// TestResume_PartitionsLost: when one partition lost its history, the
// resume of a subscriber of three is one resync, then the composite of
// the heads (the new epoch's in that partition), then live messages.
func TestResume_PartitionsLost(t *testing.T) {
	for _, tr := range ptTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			eng := newPartEngine(3, 0, ptParts)
			e := ptServer(t, eng, nil)
			c := &ptClient{transport: tr.transport, viaQuery: tr.viaQuery, want: 3}
			f := c.open(t, e, "a", "b", "c")
			require.True(t, c.next(t, f).position)
			for _, m := range []string{"a1", "b1", "c1"} {
				ptPublish(t, e, m)
			}
			c.expect(t, f, "a1", "b1", "c1")
			f.close()
			old, err := fanout.ParseCursor(c.id())
			require.NoError(t, err)
			// Gone from the Hub, so that the loss does not reach it live.
			eventually(t, func() bool { return e.hub.Len() == 0 }, waitTimeout, "the subscriber to leave")
			eng.lose(1)
			ptPublish(t, e, "b2")
			ptPublish(t, e, "a2")

			f = c.open(t, e, "a", "b", "c")
			r := c.next(t, f)
			require.True(t, r.resync, "want a resync, got %+v", r)
			r = c.next(t, f)
			require.True(t, r.position, "want the position after the resync, got %+v", r)
			now, err := fanout.ParseCursor(r.id)
			require.NoError(t, err)
			require.NotEqual(t, old[1].Epoch, now[1].Epoch, "partition 1's new epoch")
			require.Equal(t, old[0].Epoch, now[0].Epoch)
			ptPublish(t, e, "b3")
			ptPublish(t, e, "c3")
			c.expect(t, f, "b3", "c3")
			// OnResync runs beside the stream, not before it: wait for it.
			rs := <-e.resyncs
			require.ErrorIs(t, rs.err, fanout.ErrUnknownID)

			// It resumes from the position it got.
			f.close()
			ptPublish(t, e, "b4")
			f = c.open(t, e, "a", "b", "c")
			c.expect(t, f, "b4")
			require.Empty(t, e.resyncs)
		})
	}
}

// TestResume_PartitionsPaged: histories longer than a page in two
// partitions are read a page at a time, each stitched to its partition's
// live messages, published meanwhile: no gap, no duplicate.
func TestResume_PartitionsPaged(t *testing.T) {
	for _, tr := range ptTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := ptServer(t, newPartEngine(3, 0, ptParts), func(ho *fanout.HubOptions) {
				ho.MaxBatch = 2 // pages of 8 messages
			})
			c := &ptClient{transport: tr.transport, viaQuery: tr.viaQuery, want: 3}
			f := c.open(t, e, "a", "b", "c")
			require.True(t, c.next(t, f).position)
			f.close()
			var missed []string
			for i := range 30 {
				for _, p := range []string{"a", "b"} {
					missed = append(missed, fmt.Sprintf("%s%d", p, i))
				}
				if i%10 == 0 {
					missed = append(missed, fmt.Sprintf("bc%d", i), fmt.Sprintf("c%d", i))
				}
			}
			for _, m := range missed {
				ptPublish(t, e, m)
			}
			f = c.open(t, e, "a", "b", "c")
			// Live messages while it pages.
			var live []string
			for i := range 10 {
				m := fmt.Sprintf("%s_live%d", []string{"a", "b", "c"}[i%3], i)
				ptPublish(t, e, m)
				live = append(live, m)
			}
			c.expect(t, f, slices.Concat(missed, live)...)
			ptPublish(t, e, "c_end")
			c.expect(t, f, "c_end")
			require.Empty(t, e.resyncs)
		})
	}
}
