package e2e

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// lastMessage is a panel's last message, with what its records said.
type lastMessage struct {
	Data  string `json:"data"`
	ID    string `json:"id"`
	Event string `json:"event"`
	Topic string `json:"topic"`
}

// 7. One Publish with an event type means the same on every transport in
// Chromium: the demo page's WebSocket (fanout.resume.v2, offered with v1
// as a fallback, read by the fanout client) gets it with its ID, event type
// and topic, and shows the event type; an EventSource listening for that
// type gets it with the same ID; and a WebSocket offering only
// fanout.resume.v1, as clients of today do, gets exactly the v1 bytes: an
// ID record and the message, nothing it cannot read.
func TestBrowser_EventTypeAndTopic(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=typed")
	ctx := testContext(t)
	require.Equal(t, fanout.ResumeSubprotocolV2, eval[string](p, "demo.protocol()"))

	// Two more clients in the page: a v1 WebSocket that keeps each frame's
	// bytes, and an EventSource for the event type. Both are subscribed
	// once open (the Hub and the Broker subscribe before they answer); the
	// v1 one's first frame, its position, is in before anything is
	// published, so that the message comes in a frame of its own.
	proto := eval[string](p, `(async () => {
		window.extra = { v1: [], sse: [] };
		const ws = new WebSocket(location.origin.replace("http", "ws") + "/ws?topic=typed", ["fanout.resume.v1"]);
		ws.binaryType = "arraybuffer";
		ws.onmessage = (e) => extra.v1.push(Array.from(new Uint8Array(e.data), (x) => x.toString(16).padStart(2, "0")).join(""));
		const es = new EventSource("/events?topic=typed");
		es.addEventListener("price", (e) => extra.sse.push({ data: e.data, id: e.lastEventId, type: e.type }));
		await Promise.all([new Promise((ok) => { ws.onopen = ok; }), new Promise((ok) => { es.onopen = ok; })]);
		return ws.protocol;
	})()`)
	require.Equal(t, fanout.ResumeSubprotocol, proto)
	until(p, "the v1 client's position", "extra.v1.length", func(n int) bool { return n == 1 })

	require.NoError(t, d.chat.Hub().Publish(ctx, "typed", fanout.NewMessage([]byte("42.5 €")).WithEvent("price")))

	type seen struct {
		WS  *lastMessage `json:"ws"`
		V1  []string     `json:"v1"`
		SSE []struct {
			Data string `json:"data"`
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"sse"`
	}
	got := until(p, "the message on the three clients", `({ ws: demo.state().ws.last, v1: extra.v1, sse: extra.sse })`,
		func(s seen) bool { return s.WS != nil && len(s.V1) == 2 && len(s.SSE) == 1 })

	id := got.WS.ID
	require.NotEmpty(t, id)
	assert.Equal(t, lastMessage{Data: "42.5 €", ID: id, Event: "price", Topic: "typed"}, *got.WS, "v2 WebSocket")
	assert.Equal(t, "42.5 €", got.SSE[0].Data, "EventSource")
	assert.Equal(t, id, got.SSE[0].ID, "EventSource: the same ID")
	assert.Equal(t, "price", got.SSE[0].Type, "EventSource: the event type")
	assert.Equal(t, hex.EncodeToString(cat(rec(3, id), rec(1, "42.5 €"))), got.V1[1], "v1 WebSocket: the v1 records, byte for byte")
	assert.True(t, eval[bool](p, `[...document.querySelectorAll("#ws .log div")].some((e) => e.textContent === "[price] 42.5 €")`),
		"the page shows the event type")
}
