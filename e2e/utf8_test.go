package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// 7. One client sends a text message that is not UTF-8 into a room where a
// browser listens on a plain WebSocket (one text frame per message). The
// sender is closed with 1007 (invalid frame payload data) and nothing is
// relayed: the browser, which must fail its connection on such a frame
// (RFC 6455, section 8.1; Chromium does, with 1006), stays connected and
// goes on receiving.
func TestBrowser_InvalidUTF8DoesNotBreakOthers(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=utf8&ws=plain")
	ctx := testContext(t)

	url := "ws" + strings.TrimPrefix(d.base, "http") + "/ws?topic=utf8"
	sender, _, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sender.CloseNow() })
	d.awaitStreams(ctx, "the sender's stream", func() bool { return len(d.ln.live("ws")) == 2 })

	require.NoError(t, sender.Write(ctx, websocket.MessageText, []byte("bad\xff\xfe\xc0")))
	// The Hub closes the sender; before, it relayed the bytes to the room,
	// the sender among them.
	readCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, echo, err := sender.Read(readCtx)
	assert.Equal(t, websocket.StatusInvalidFramePayloadData, websocket.CloseStatus(err),
		"the sender's close (read %q, %v)", echo, err)

	// Whatever the browser got before it, "after" comes on the same
	// WebSocket: it arrives unless the connection failed first.
	d.publish(ctx, "utf8", "after")
	type wsLog struct {
		After  bool `json:"after"`
		Closed bool `json:"closed"`
	}
	got := until(p, "the page's WebSocket got \"after\", or closed", `(() => {
  const ls = [...document.querySelectorAll("#ws .log div")].map((e) => e.textContent);
  return { after: ls.includes("after"), closed: ls.some((l) => l.startsWith("— closed (")) };
})()`, func(l wsLog) bool { return l.After || l.Closed })
	assert.False(t, got.Closed, "the page's WebSocket was closed")
	assert.True(t, got.After)
	s := p.state()
	assert.Zero(t, s.WS.Reconnects)
	assert.Zero(t, s.SSE.Reconnects)
	p.awaitBurst(d.burst(ctx, "utf8", 20), 20) // both panels go on
}
