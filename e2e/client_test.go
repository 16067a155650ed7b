package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout/examples/chat/room"
)

// 8. Chromium's own EventSource, refused (503) when it reconnects by
// itself, gives up; the fanout client then opens a new one with
// ?lastEventId= and the last ID it received, and gets by replay what was
// published while it was away.
func TestBrowser_SSEGivesUpClientReopens(t *testing.T) {
	d := startDemo(t, &room.Options{Retry: 100 * time.Millisecond})
	p := openDemo(t, d, "topic=giveup")
	ctx := testContext(t)

	k1 := d.burst(ctx, "giveup", 20)
	lastID := p.awaitBurst(k1, 20).SSE.LastID
	require.NotEmpty(t, lastID)

	d.refuseNext("/events", http.StatusServiceUnavailable)
	d.hold()
	d.post(ctx, "/drop?transport=sse&topic=giveup")
	reqs := d.awaitRequests(ctx, "the refused reconnection, then the client's new EventSource", func(rs []*seenRequest) bool {
		return slices.ContainsFunc(rs, func(r *seenRequest) bool { return r.Path == "/events" && r.Held })
	})
	var sse []*seenRequest
	for _, r := range reqs {
		if r.Path == "/events" {
			sse = append(sse, r)
		}
	}
	require.Len(t, sse, 3, "the first stream, the EventSource's reconnection, the client's new EventSource")
	assert.True(t, sse[1].Refused)
	assert.Equal(t, lastID, sse[1].LastEventID, "the EventSource's own reconnection sends Last-Event-ID")
	assert.Empty(t, sse[2].LastEventID, "a new EventSource")
	assert.Equal(t, lastID, sse[2].QueryID, "the client resumes with ?lastEventId=")

	k2 := d.burst(ctx, "giveup", 50) // while it is away
	p.awaitBurst(k2, 50, "ws")
	d.unhold()
	s := p.awaitBurst(k2, 50, "sse")
	assert.Equal(t, 1, s.SSE.Reconnects)
	assert.Empty(t, s.SSE.Resyncs)
	assert.Zero(t, s.WS.Reconnects)
	p.assertEveryMessage(d)
}

// 9. Subscriber.CloseWith(4001, reason) stops the page's clients for good:
// the WebSocket by its close code, the EventSource by the fanout.close
// event (which the client heeds before the stream ends, so the browser
// does not reconnect).
func TestBrowser_CloseWithStops(t *testing.T) {
	d := startDemo(t, &room.Options{Retry: 100 * time.Millisecond})
	p := openDemo(t, d, "topic=bye")
	ctx := testContext(t)
	p.awaitBurst(d.burst(ctx, "bye", 10), 10)

	for _, sub := range d.chat.Hub().Subscribers() {
		require.NoError(t, sub.CloseWith(4001, "signed out"))
	}
	s := until(p, "both panels closed", "demo.state()", func(s pageState) bool {
		return s.WS.Closed != 0 && s.SSE.Closed != 0
	})
	assert.Equal(t, 4001, s.WS.Closed)
	assert.Equal(t, 4001, s.SSE.Closed)
	for _, panel := range []string{"#ws", "#sse"} {
		assert.Equal(t, "closed: 4001", eval[string](p, `document.querySelector("`+panel+` .status").textContent`), panel)
	}

	// Neither comes back: the client would reconnect after about 100ms (the
	// WebSocket's delay, the Broker's Retry); wait ten times as long.
	time.Sleep(time.Second)
	reqs := d.awaitRequests(ctx, "the requests", func([]*seenRequest) bool { return true })
	assert.Len(t, reqs, 2, "no reconnection: %s", jsonString(reqs))
	assert.Zero(t, d.chat.Hub().NumSubscribers("bye"))
	s = p.state()
	assert.Zero(t, s.WS.Reconnects)
	assert.Zero(t, s.SSE.Reconnects)
}
