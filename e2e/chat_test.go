package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testContext bounds what a test waits for on the server's side.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openDemo serves the demo and opens its page on a room of its own, with
// both panels connected and subscribed.
func openDemo(t *testing.T, d *demo, query string) *page {
	t.Helper()
	p := newPage(t, newBrowser(t), d.base+"/?"+query)
	p.awaitConnected()
	d.awaitStreams(testContext(t), "the page's two streams", func() bool {
		return len(d.ln.live("ws")) == 1 && len(d.ln.live("sse")) == 1
	})
	return p
}

// burstText is the start of every message of the demo's burst k.
func burstText(k int) []byte { return fmt.Appendf(nil, "burst #%d: message ", k) }

// writesWith returns how many messages of burst k each write on c that
// carried any of them carried.
func (d *demo) writesWith(c *streamConn, k int) []int {
	var out []int
	for _, w := range d.writesOf(c) {
		if n := bytes.Count(w, burstText(k)); n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// 1. Both transports get every burst complete and in order, including one
// that queued up behind a busy writer and left in one socket write.
func TestBrowser_BurstsCompleteAndCoalesced(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=bursts")
	ctx := testContext(t)

	// A burst as a user makes one: the page's Burst button.
	p.do("click Burst",
		chromedp.SetValue(chromedp.CSS("#n"), "200"),
		chromedp.Click(chromedp.CSS("#burst button")))
	p.awaitBurst(1, 200)

	// A burst published while both writers are busy: it queues whole, and
	// each writer sends it in its next write (a write carries at most
	// DeliveryOptions.MaxBatch messages, 64 by default).
	held := d.holdAndBlock(ctx, "bursts", "ws", "sse")
	k := d.burst(ctx, "bursts", 60)
	d.ln.release(held...)
	s := p.awaitBurst(k, 60)

	for _, c := range held {
		assert.Equal(t, []int{60}, d.writesWith(c, k),
			"%s: messages of burst #%d per socket write", c.kind, k)
	}
	// The resume subprotocol packs a batch into one frame: the browser got
	// the whole burst in one.
	b, _ := s.WS.burst(k)
	assert.Equal(t, 1, b.Frames, "WebSocket frames that carried burst #%d", k)
	assert.Zero(t, s.WS.Reconnects)
	assert.Zero(t, s.SSE.Reconnects)
	require.Equal(t, 200+1+60, s.WS.Count)
	require.Equal(t, s.WS.Count, s.SSE.Count)
}
