package fanout_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"

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
			pos := late.nextRecord(t)
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
