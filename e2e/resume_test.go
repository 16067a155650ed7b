package e2e

import (
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout/examples/chat/room"
)

// 3. A slow SSE subscriber is closed by the Close policy (its writes are
// held while more than its queue holds is published); the browser's
// EventSource reconnects on its own with Last-Event-ID and gets, by replay,
// exactly what it missed. The WebSocket panel, not held, is not delayed.
func TestBrowser_SSEClosedWhenSlowResumes(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=slow")
	ctx := testContext(t)

	k1 := d.burst(ctx, "slow", 50)
	lastID := p.awaitBurst(k1, 50).SSE.LastID
	require.NotEmpty(t, lastID)

	held := d.holdAndBlock(ctx, "slow", "sse")
	k2 := d.burst(ctx, "slow", 200)
	k3 := d.burst(ctx, "slow", 200) // 401 queued: over the default QueueSize, 256
	p.awaitBurst(k3, 200, "ws")     // the other transport is not delayed
	d.awaitStreams(ctx, "the slow stream closed", func() bool { return held[0].closed })
	assert.NotZero(t, d.chat.Hub().Stats().Closed, "closed by the policy")

	reqs := d.awaitRequests(ctx, "EventSource's reconnection", func(rs []*seenRequest) bool {
		return slices.ContainsFunc(rs, func(r *seenRequest) bool { return r.Path == "/events" && r.resuming() })
	})
	i := slices.IndexFunc(reqs, func(r *seenRequest) bool { return r.Path == "/events" && r.resuming() })
	assert.Equal(t, lastID, reqs[i].LastEventID, "EventSource sends the last ID it received as Last-Event-ID")
	assert.Empty(t, reqs[i].QueryID, "the page did not open a new EventSource")

	s := p.awaitBurst(k2, 200, "sse")
	s = p.awaitBurst(k3, 200, "sse")
	assert.Equal(t, 1, s.SSE.Reconnects)
	assert.Empty(t, s.SSE.Resyncs)
	assert.Equal(t, s.WS.Count, s.SSE.Count, "the same messages over both transports")
	assert.Equal(t, s.WS.LastID, s.SSE.LastID)
	p.assertEveryMessage(d)
}

// 3b and 4. The server ends a transport's connection (the page's "drop SSE
// stream" and "drop WebSocket"); while the client is away, a burst is
// published; it comes back with the last ID it received (EventSource by
// itself, with Last-Event-ID; the page's WebSocket in the resume
// subprotocol, with ?lastEventId=) and gets that burst by replay, complete
// and in order. The other panel is not disturbed.
func TestBrowser_DroppedResumes(t *testing.T) {
	for _, tc := range []struct {
		panel, other string
		button, path string
		sentID       func(*seenRequest) string // the ID the reconnection carries
	}{
		{"sse", "ws", "#dropsse", "/events", func(r *seenRequest) string { return r.LastEventID }},
		{"ws", "sse", "#dropws", "/ws", func(r *seenRequest) string { return r.QueryID }},
	} {
		t.Run(tc.panel, func(t *testing.T) {
			d := startDemo(t, nil)
			topic := "drop" + tc.panel
			p := openDemo(t, d, "topic="+topic)
			ctx := testContext(t)

			k1 := d.burst(ctx, topic, 50)
			lastID := p.awaitBurst(k1, 50).panel(tc.panel).LastID
			require.NotEmpty(t, lastID)

			d.hold() // the reconnection waits until the burst below is published
			p.do("drop "+tc.panel,
				chromedp.Click(chromedp.CSS("#away")), // no burst of the page's own
				chromedp.Click(chromedp.CSS(tc.button)))
			d.awaitRequests(ctx, "the held reconnection", func(rs []*seenRequest) bool {
				return slices.ContainsFunc(rs, func(r *seenRequest) bool {
					return r.Path == tc.path && r.Held && tc.sentID(r) == lastID
				})
			})
			k2 := d.burst(ctx, topic, 200)
			p.awaitBurst(k2, 200, tc.other)
			d.unhold()

			s := p.awaitBurst(k2, 200, tc.panel)
			dropped, other := s.panel(tc.panel), s.panel(tc.other)
			assert.Equal(t, 1, dropped.Reconnects)
			assert.Zero(t, other.Reconnects)
			assert.Empty(t, dropped.Resyncs)
			assert.Equal(t, other.Count, dropped.Count)
			assert.Equal(t, other.LastID, dropped.LastID)
			p.assertEveryMessage(d)
		})
	}
}

// 5. Both panels come back with an ID the Ring has evicted: each gets the
// documented resync signal (the fanout.resync event; a resync record),
// which the page shows, then the live stream.
func TestBrowser_EvictedIDResyncs(t *testing.T) {
	d := startDemo(t, &room.Options{RingSize: 100})
	p := openDemo(t, d, "topic=evict")
	ctx := testContext(t)

	k1 := d.burst(ctx, "evict", 10)
	s := p.awaitBurst(k1, 10)

	d.hold()
	d.post(ctx, "/drop?transport=ws&topic=evict")
	d.post(ctx, "/drop?transport=sse&topic=evict")
	d.awaitRequests(ctx, "both reconnections, held", func(rs []*seenRequest) bool {
		return slices.ContainsFunc(rs, func(r *seenRequest) bool {
			return r.Path == "/ws" && r.Held && r.QueryID == s.WS.LastID
		}) && slices.ContainsFunc(rs, func(r *seenRequest) bool {
			return r.Path == "/events" && r.Held && r.LastEventID == s.SSE.LastID
		})
	})
	d.burst(ctx, "evict", 150) // the Ring keeps 100: the IDs above are gone
	d.unhold()

	s = until(p, "a resync on both panels", "demo.state()", func(s pageState) bool {
		return len(s.WS.Resyncs) > 0 && len(s.SSE.Resyncs) > 0
	})
	assert.Equal(t, []string{"unknown"}, s.WS.Resyncs)
	assert.Equal(t, []string{"unknown"}, s.SSE.Resyncs)
	for _, panel := range []string{"#ws", "#sse"} {
		text := eval[string](p, `document.querySelector("`+panel+` .resync.show .why").textContent`)
		assert.Contains(t, text, "resync (unknown)", panel)
	}

	// Then the live stream.
	k3 := d.burst(ctx, "evict", 20)
	p.awaitBurst(k3, 20)
}
