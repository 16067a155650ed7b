package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// testContext bounds what a test waits for on the server's side.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openDemo opens d's page (query holds its ?topic= and ?ws=) in a browser
// of its own, and waits until both panels are connected and subscribed.
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
	p.assertEveryMessage(d)
}

// 2. Packed mode: the page's WebSocket offers fanout.packed.v2 (and v1)
// and reads each batch, one binary frame, with the fanout client (the npm
// package in js/, served at /fanout.js).
func TestBrowser_PackedMode(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=packed&ws=packed")
	ctx := testContext(t)
	require.Equal(t, fanout.PackedSubprotocolV2, eval[string](p, "demo.protocol()"))

	held := d.holdAndBlock(ctx, "packed", "ws")
	require.NoError(t, d.chat.Hub().Publish(ctx, "packed", fanout.NewBinaryMessage([]byte{0, 1, 2, 0xff})))
	k := d.burst(ctx, "packed", 60)
	d.ln.release(held...)
	s := p.awaitBurst(k, 60)

	assert.Equal(t, []int{60}, d.writesWith(held[0], k), "messages of burst #%d per socket write", k)
	b, _ := s.WS.burst(k)
	assert.Equal(t, 1, b.Frames, "WebSocket frames that carried burst #%d", k)
	assert.Equal(t, 61, s.WS.MaxPerFrame, "the binary message and the burst came in one frame")
	assert.Empty(t, s.WS.LastID, "packed mode carries no IDs")
	// The binary message: bytes in the packed frame, base64 over SSE.
	assert.True(t, eval[bool](p, `[...document.querySelectorAll("#ws .log div")].some((e) => e.textContent === "[binary, 4 bytes]")`))
	assert.True(t, eval[bool](p, `[...document.querySelectorAll("#sse .log div")].some((e) => e.textContent === "AAEC/w==")`))
	p.assertEveryMessage(d, "sse") // packed mode carries no IDs
}

// Without a subprotocol (?ws=plain) the page's WebSocket gets one ordinary
// frame per message, still coalesced into one socket write.
func TestBrowser_PlainMode(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=plain&ws=plain")
	ctx := testContext(t)
	require.Empty(t, eval[string](p, "demo.protocol()"))

	held := d.holdAndBlock(ctx, "plain", "ws")
	k := d.burst(ctx, "plain", 60)
	d.ln.release(held...)
	s := p.awaitBurst(k, 60)

	assert.Equal(t, []int{60}, d.writesWith(held[0], k), "messages of burst #%d per socket write", k)
	b, _ := s.WS.burst(k)
	assert.Equal(t, 60, b.Frames, "WebSocket frames that carried burst #%d", k)
	assert.Equal(t, s.WS.Count, s.WS.Frames)
	p.assertEveryMessage(d, "sse")
}

// The client's fanoutRecords (exported by the module the demo serves at
// /fanout.js) reads frames exactly as fanout.UnpackRecords does, v1 and
// v2: the same records from valid frames, an error from the same
// malformed ones.
func TestBrowser_FanoutRecordsMatchesUnpackRecords(t *testing.T) {
	d := startDemo(t, nil)
	p := newPage(t, newBrowser(t), d.base+"/?topic=helper")

	frames := [][]byte{
		nil,
		rec(1, "hello"),
		rec(2, "\x00\x01\xfe\xff"),
		cat(rec(3, "e-1"), rec(1, "one"), rec(1, "two"), rec(3, "e-3"), rec(2, "3")),
		cat(rec(5, "e-7"), rec(3, "e-8"), rec(1, "")),
		cat(rec(4, "unknown"), rec(1, "live")),
		rec(1, "ünïcödé ✓"),
		rec(1, "\ufeffa BOM is data"), // TextDecoder drops it unless told not to
		cat(rec(3, "e-9"), rec(6, "price"), rec(7, "room ✓"), rec(1, "v2")),
		cat(rec(6, "price"), rec(2, "\x00"), rec(7, "t"), rec(1, "a"), rec(1, "b")),
		cat(rec(5, "e-1"), rec(4, "unknown"), rec(3, "e-2"), rec(7, "t"), rec(1, "")),
		rec(1, "")[:4],                  // truncated header
		rec(1, "abc")[:7],               // record overruns the frame
		rec(9, "x"),                     // unknown kind
		rec(0, "x"),                     // unknown kind
		cat(rec(1, "a"), rec(3, "e-1")), // an ID record ends the frame
		cat(rec(3, "e-1"), rec(3, "e-2"), rec(1, "a")),
		cat(rec(3, ""), rec(1, "a")), // empty ID
		cat(rec(3, "e-1"), rec(5, "e-2"), rec(1, "a")),
		rec(5, ""),                                   // empty position
		cat(rec(3, "e-1"), rec(4, "unknown")),        // an ID before a resync
		cat(rec(7, "t"), rec(4, "unknown")),          // a topic before a resync
		cat(rec(6, "e"), rec(5, "e-1")),              // an event type before a position
		cat(rec(6, "a"), rec(6, "b"), rec(1, "x")),   // two event types
		cat(rec(7, "a"), rec(7, "b"), rec(1, "x")),   // two topics
		cat(rec(7, "t"), rec(6, "e"), rec(1, "x")),   // out of order
		cat(rec(6, "e"), rec(3, "e-1"), rec(1, "x")), // out of order
		cat(rec(6, ""), rec(1, "x")),                 // empty event type
		cat(rec(7, ""), rec(1, "x")),                 // empty topic
		cat(rec(1, "x"), rec(6, "e")),                // an event type ends the frame
		cat(rec(3, "e-1"), rec(6, "e"), rec(7, "t")), // a topic ends the frame
		cat(rec(7, "t"), rec(8, "x")),                // unknown kind after a topic
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		frames = append(frames, randomFrame(rng))
	}
	var b64 []string
	for _, f := range frames {
		b64 = append(b64, base64.StdEncoding.EncodeToString(f))
	}
	got := eval[[]unpacked](p, `import("/fanout.js").then(({ fanoutRecords }) => (`+jsonString(b64)+`).map((b64) => {
		const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
		try {
			return { records: fanoutRecords(bytes.buffer).map((r) =>
				r.position !== undefined ? { position: r.position } :
				r.resync !== undefined ? { resync: r.resync } :
				typeof r.data === "string" ? { text: r.data, id: r.id, event: r.event, topic: r.topic } :
				{ binary: Array.from(r.data, (x) => x.toString(16).padStart(2, "0")).join(""), id: r.id,
					event: r.event, topic: r.topic }) };
		} catch (e) {
			if (!(e instanceof RangeError)) throw e;
			return { error: e.message };
		}
	}))`)
	require.Len(t, got, len(frames))
	var valid, invalid, v2 int
	for i, f := range frames {
		want := unpackInGo(f)
		if want.Error != "" {
			invalid++
			assert.NotEmpty(t, got[i].Error, "frame %d %x: Go: %s; JavaScript: %v", i, f, want.Error, got[i].Records)
			continue
		}
		valid++
		if slices.ContainsFunc(want.Records, func(r record) bool { return r.Event != "" || r.Topic != "" }) {
			v2++
		}
		assert.Empty(t, got[i].Error, "frame %d %x", i, f)
		assert.Equal(t, want.Records, got[i].Records, "frame %d %x", i, f)
	}
	t.Logf("%d valid frames (%d with event type or topic records), %d malformed", valid, v2, invalid)
	assert.Greater(t, valid, 100)
	assert.Greater(t, v2, 40)
	assert.Greater(t, invalid, 100)
}

// unpacked is a frame's records (or error) in a form JSON carries from the
// page: text as a string, binary in hex.
type unpacked struct {
	Records []record `json:"records"`
	Error   string   `json:"error"`
}

type record struct {
	Text     *string `json:"text,omitempty"`
	Binary   *string `json:"binary,omitempty"`
	ID       string  `json:"id,omitempty"`
	Event    string  `json:"event,omitempty"`
	Topic    string  `json:"topic,omitempty"`
	Resync   *string `json:"resync,omitempty"`
	Position *string `json:"position,omitempty"`
}

func unpackInGo(frame []byte) unpacked {
	u := unpacked{Records: []record{}}
	err := fanout.UnpackRecords(frame, func(r fanout.Record) error {
		s := string(r.Data)
		switch {
		case r.Position:
			u.Records = append(u.Records, record{Position: &r.ID})
		case r.Resync:
			u.Records = append(u.Records, record{Resync: &s})
		case r.Type == fanout.Binary:
			h := hex.EncodeToString(r.Data)
			u.Records = append(u.Records, record{Binary: &h, ID: r.ID, Event: r.Event, Topic: r.Topic})
		default:
			s = strings.ToValidUTF8(s, "\uFFFD") // as TextDecoder reads it
			u.Records = append(u.Records, record{Text: &s, ID: r.ID, Event: r.Event, Topic: r.Topic})
		}
		return nil
	})
	if err != nil {
		u.Error = err.Error()
	}
	return u
}

// rec is one packed record.
func rec(kind byte, payload string) []byte {
	b := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// randomFrame makes a frame of a few records: mostly messages, each with
// some of its ID, event type and topic records in order, some resyncs and
// positions, records of random kinds, and ASCII payloads (empty now and
// then); now and then it is cut short.
func randomFrame(rng *rand.Rand) []byte {
	var f []byte
	payload := func() string {
		p := make([]byte, rng.IntN(4))
		for i := range p {
			p[i] = byte('a' + rng.IntN(26))
		}
		return string(p)
	}
	for range rng.IntN(5) {
		switch rng.IntN(8) {
		case 0: // any kind
			f = append(f, rec(byte(rng.IntN(9)), payload())...)
		case 1:
			f = append(f, rec(byte(4+rng.IntN(2)), payload())...) // a resync or a position
		default: // a message, after some of its prefix records
			for _, k := range []byte{3, 6, 7} {
				if rng.IntN(2) == 0 {
					f = append(f, rec(k, payload())...)
				}
			}
			f = append(f, rec(byte(1+rng.IntN(2)), payload())...)
		}
	}
	if len(f) > 0 && rng.IntN(8) == 0 {
		f = f[:rng.IntN(len(f))]
	}
	return f
}
