package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/examples/chat/room"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// 8. With the demo's Hub compressing (room.Options.Compression), Chromium
// negotiates permessage-deflate without context takeover and reads
// compressed frames: a WebSocket in the page gets three rounds of text
// and binary messages, small and large, each exactly as published (type,
// length, SHA-256), while the frames the server wrote to it carry RSV1 on
// the compressible ones and take a fraction of their plain size; the
// demo's own plain panel shows a large compressed message and keeps
// checking bursts, beside the EventSource panel.
func TestBrowser_Compression(t *testing.T) {
	d := startDemo(t, &room.Options{Compression: true})
	p := openDemo(t, d, "topic=deflate&ws=plain")
	ctx := testContext(t)

	ext := eval[string](p, `(async () => {
		window.zipped = { got: [] };
		const ws = new WebSocket(location.origin.replace("http", "ws") + "/ws?topic=zipped");
		ws.binaryType = "arraybuffer";
		ws.onmessage = (e) => {
			const bin = typeof e.data !== "string";
			const bytes = bin ? new Uint8Array(e.data) : new TextEncoder().encode(e.data);
			zipped.got.push(crypto.subtle.digest("SHA-256", bytes).then((h) => ({
				binary: bin, len: bytes.length,
				sha256: Array.from(new Uint8Array(h), (x) => x.toString(16).padStart(2, "0")).join(""),
			})));
		};
		await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
		return ws.extensions;
	})()`)
	assert.Equal(t, deflateAnswer, ext, "the extension Chromium negotiated")
	d.awaitStreams(ctx, "the page's second WebSocket", func() bool { return len(d.ln.live("ws")) == 2 })
	d.ln.mu.Lock()
	zc := d.ln.live("ws")[1]
	d.ln.mu.Unlock()

	ms := deflateMessages(3)
	for _, m := range ms {
		require.NoError(t, d.chat.Hub().Publish(ctx, "zipped", m))
	}
	until(p, "every message in the page", "zipped.got.length", func(n int) bool { return n == len(ms) })
	got := eval[[]digest](p, "Promise.all(zipped.got)")
	require.Len(t, got, len(ms))
	for i, m := range ms {
		assert.Equal(t, digestOf(m), got[i], "message %d (%d bytes)", i, m.Len())
	}

	writes := d.writesOf(zc)
	data, compressed, err := serverFrames(writes)
	require.NoError(t, err)
	wrote := 0
	for _, w := range writes {
		wrote += len(w)
	}
	t.Logf("%d frames, %d compressed; %d bytes written, %d plain", data, compressed, wrote, plainSize(ms))
	assert.Equal(t, len(ms), data, "data frames")
	assert.Equal(t, 3*8, compressed, "compressed frames: 8 of each round's 12 (the others are small or random)")
	assert.Less(t, wrote, plainSize(ms)/4, "bytes written")

	// The demo's plain panel, which negotiated the extension too.
	big := payload.JSON(8<<10, 42)
	require.NoError(t, d.chat.Hub().Publish(ctx, "deflate", fanout.NewMessage(big)))
	until(p, "the large message in the plain panel", "demo.state().ws.last", func(l *lastMessage) bool {
		return l != nil && l.Data == string(big)
	})
	k := d.burst(ctx, "deflate", 50)
	p.awaitBurst(k, 50)
}

// TestBrowser_CompressionResume: the demo's WebSocket panel on the resume
// subprotocol (the default), through the JavaScript client: its packed
// frames arrive compressed (each message's records compressed once per
// publish), and Chromium inflates them to the messages published, a large
// one and a burst, complete and in order.
func TestBrowser_CompressionResume(t *testing.T) {
	d := startDemo(t, &room.Options{Compression: true})
	p := openDemo(t, d, "topic=zresume")
	ctx := testContext(t)
	d.awaitStreams(ctx, "the page's WebSocket", func() bool { return len(d.ln.live("ws")) == 1 })
	d.ln.mu.Lock()
	zc := d.ln.live("ws")[0]
	d.ln.mu.Unlock()

	big := payload.JSON(8<<10, 7)
	require.NoError(t, d.chat.Hub().Publish(ctx, "zresume", fanout.NewMessage(big)))
	until(p, "the large message in the resume panel", "demo.state().ws.last", func(l *lastMessage) bool {
		return l != nil && l.Data == string(big)
	})
	k := d.burst(ctx, "zresume", 50)
	p.awaitBurst(k, 50)

	data, compressed, err := serverFrames(d.writesOf(zc))
	require.NoError(t, err)
	t.Logf("%d frames, %d compressed", data, compressed)
	assert.Positive(t, compressed, "compressed packed frames")
}
