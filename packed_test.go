package fanout_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// specMessage is a message as the v2 record table describes it.
type specMessage struct {
	data             string
	binary           bool
	id, event, topic string
}

// specRecords returns m's records as the subprotocol proto frames them,
// written from the record table (ResumeSubprotocolV2), not the library: the
// ID record for the resume subprotocols, the event type and topic records
// for the v2 ones, each when m has one, in that order, then the message.
func specRecords(proto string, m specMessage) []byte {
	var b []byte
	resume := strings.HasPrefix(proto, "fanout.resume.")
	v2 := strings.HasSuffix(proto, ".v2")
	if resume && m.id != "" {
		b = append(b, fuzzRecord(3, m.id)...)
	}
	if v2 && m.event != "" {
		b = append(b, fuzzRecord(6, m.event)...)
	}
	if v2 && m.topic != "" {
		b = append(b, fuzzRecord(7, m.topic)...)
	}
	kind := byte(1)
	if m.binary {
		kind = 2
	}
	return append(b, fuzzRecord(kind, m.data)...)
}

// recordsDial dials u with the client library lib ("coder" or "gorilla"),
// offering offer, and returns what it reads and the subprotocol it got.
func recordsDial(t *testing.T, lib, u string, offer []string) (*collector, string) {
	t.Helper()
	if lib == "gorilla" {
		c := dialGorilla(t, u, &gws.Dialer{Subprotocols: offer, HandshakeTimeout: waitTimeout})
		return collectGorilla(t, c), c.Subprotocol()
	}
	c := dialCoder(t, u, &websocket.DialOptions{Subprotocols: offer})
	return collectCoder(t, c), c.Subprotocol()
}

// TestRecords_OnePublishMeansTheSameOnBothTransports: one Publish with an
// event type on topic t, a broadcast with one, a binary message without,
// and a BroadcastFilter reach, with a store and without: the v2 WebSocket
// clients (coder/websocket and gorilla, offering v2 with v1 as a fallback)
// with their event type and topic records, byte for byte as the record
// table says; the v1 clients exactly as before v2 existed (the same bytes:
// no record of a kind they do not know); the plain clients as ordinary
// frames; and the SSE client (go-sse's parser) with the same event types
// and IDs. A broadcast and a filtered broadcast carry no topic.
func TestRecords_OnePublishMeansTheSameOnBothTransports(t *testing.T) {
	t.Parallel()
	for _, store := range []struct {
		name string
		ring bool
	}{{"ring", true}, {"no store", false}} {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			e := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
				ho.Packing = true
				ho.PingInterval = -1
				if !store.ring {
					ho.Replay = nil
				}
			})
			ctx := context.Background()
			wsURL := "ws" + strings.TrimPrefix(rsURL(e.srv.URL, "/ws", []string{"t"}, "", false), "http")

			type client struct {
				lib   string
				offer []string
				want  string // the subprotocol it must get
				col   *collector
				seen  int // frames checked
			}
			var clients []*client
			for _, lib := range []string{"coder", "gorilla"} {
				for _, c := range []client{
					{offer: []string{fanout.ResumeSubprotocolV2, fanout.ResumeSubprotocol}, want: fanout.ResumeSubprotocolV2},
					{offer: []string{fanout.ResumeSubprotocol}, want: fanout.ResumeSubprotocol},
					{offer: []string{fanout.PackedSubprotocolV2, fanout.PackedSubprotocol}, want: fanout.PackedSubprotocolV2},
					{offer: []string{fanout.PackedSubprotocol}, want: fanout.PackedSubprotocol},
					{offer: nil, want: ""},
				} {
					c.lib = lib
					col, got := recordsDial(t, lib, wsURL, c.offer)
					require.Equal(t, c.want, got, "%s offering %v", lib, c.offer)
					c.col = col
					clients = append(clients, &c)
				}
			}
			for _, c := range clients {
				if store.ring && strings.HasPrefix(c.want, "fanout.resume.") {
					// A new resume stream starts with its position, alone.
					f := c.col.waitN(t, 1)[0]
					var rs []fanout.Record
					require.NoError(t, fanout.UnpackRecords(f.data, func(r fanout.Record) error { rs = append(rs, r); return nil }))
					require.Len(t, rs, 1)
					require.True(t, rs[0].Position, "%s %s: %+v", c.lib, c.want, rs[0])
					c.seen = 1
				}
			}
			sse := e.rsOpenSSE(t, []string{"t"}, "", false)

			keepAll := func(*fanout.Subscriber) bool { return true }
			steps := []struct {
				name    string
				publish func() error
				m       specMessage // ID filled in from the SSE client, with a store
				stored  bool
			}{
				{"publish", func() error {
					return e.hub.Publish(ctx, "t", fanout.NewMessage([]byte("hello")).WithEvent("price"))
				}, specMessage{data: "hello", event: "price", topic: "t"}, true},
				{"broadcast", func() error {
					return e.hub.Broadcast(ctx, fanout.NewMessage([]byte("to all")).WithEvent("notice"))
				}, specMessage{data: "to all", event: "notice"}, true},
				{"binary, no event type", func() error {
					return e.hub.Publish(ctx, "t", fanout.NewBinaryMessage([]byte{0, 0xff}))
				}, specMessage{data: "\x00\xff", binary: true, topic: "t"}, true},
				{"filtered", func() error {
					return e.hub.BroadcastFilter(ctx, fanout.NewMessage([]byte("some")).WithEvent("f"), keepAll)
				}, specMessage{data: "some", event: "f"}, false},
			}
			for _, st := range steps {
				require.NoError(t, st.publish(), st.name)
				ev := sse.next(t)
				assert.Equal(t, st.m.event, ev.event, "%s: SSE event type", st.name)
				if st.m.binary {
					assert.Equal(t, base64.StdEncoding.EncodeToString([]byte(st.m.data)), ev.data, "%s: SSE data", st.name)
				} else {
					assert.Equal(t, st.m.data, ev.data, "%s: SSE data", st.name)
				}
				want := st.m
				if store.ring && st.stored {
					require.NotEmpty(t, ev.id, "%s: SSE id", st.name)
					want.id = ev.id
				}
				for _, c := range clients {
					f := c.col.waitN(t, c.seen+1)[c.seen]
					c.seen++
					if c.want == "" {
						assert.Equal(t, want.binary, f.binary, "%s: %s plain frame type", st.name, c.lib)
						assert.Equal(t, want.data, string(f.data), "%s: %s plain frame", st.name, c.lib)
						continue
					}
					require.True(t, f.binary, "%s: %s %s: a packed frame is binary", st.name, c.lib, c.want)
					assert.Equal(t, specRecords(c.want, want), f.data, "%s: %s %s frame", st.name, c.lib, c.want)
				}
			}
			// What the v2 clients' decoder makes of the first step's frame.
			for _, c := range clients {
				if c.want != fanout.ResumeSubprotocolV2 {
					continue
				}
				f := c.col.snapshot()[c.seen-len(steps)]
				var rs []fanout.Record
				require.NoError(t, fanout.UnpackRecords(f.data, func(r fanout.Record) error { rs = append(rs, r); return nil }))
				require.Len(t, rs, 1)
				assert.Equal(t, "price", rs[0].Event)
				assert.Equal(t, "t", rs[0].Topic)
				assert.Equal(t, "hello", string(rs[0].Data))
				assert.Equal(t, store.ring, rs[0].ID != "")
			}
		})
	}
}

// TestHub_SubprotocolVersions: the subprotocol a client gets for what it
// offers, with and without Packing and beside an application's own
// subprotocol, and the framing that follows it: newer versions are
// preferred, resume over packed, names are matched ignoring case, and the
// framing is the one of the subprotocol selected.
func TestHub_SubprotocolVersions(t *testing.T) {
	t.Parallel()
	const (
		r1, r2 = fanout.ResumeSubprotocol, fanout.ResumeSubprotocolV2
		p1, p2 = fanout.PackedSubprotocol, fanout.PackedSubprotocolV2
	)
	for _, packing := range []bool{false, true} {
		s := newServer(t, &fanout.HubOptions{
			Packing:       packing,
			PingInterval:  -1,
			AcceptOptions: &websocket.AcceptOptions{Subprotocols: []string{"chat"}},
		})
		for _, tc := range []struct {
			offer         []string
			want, without string // selected with Packing, and without
		}{
			{[]string{r2, r1}, r2, r2},
			{[]string{r1, r2}, r2, r2}, // the server's preference
			{[]string{r1}, r1, r1},
			{[]string{r2}, r2, r2},
			{[]string{"FANOUT.RESUME.V2"}, "FANOUT.RESUME.V2", "FANOUT.RESUME.V2"},
			{[]string{p2, r1}, r1, r1}, // resume before packed
			{[]string{p2, p1}, p2, ""},
			{[]string{p1, p2}, p2, ""},
			{[]string{p1}, p1, ""},
			{[]string{"Fanout.Packed.V2"}, "Fanout.Packed.V2", ""},
			{[]string{p2, "chat"}, "chat", "chat"}, // the application's come before packed
			{[]string{"fanout.resume.v3", "fanout.packed.v3"}, "", ""},
			{nil, "", ""},
		} {
			want := tc.want
			if !packing {
				want = tc.without
			}
			name := strings.Join(tc.offer, ",")
			if name == "" {
				name = "nothing"
			}
			if !packing {
				name += " without Packing"
			}
			t.Run(name, func(t *testing.T) {
				c := dialCoder(t, s.url("topic=t"), &websocket.DialOptions{Subprotocols: tc.offer})
				require.Equal(t, want, c.Subprotocol())
				require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("x")).WithEvent("e")))
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				typ, frame, err := c.Read(ctx)
				require.NoError(t, err)
				proto := strings.ToLower(want)
				if proto == "" || proto == "chat" {
					assert.Equal(t, websocket.MessageText, typ)
					assert.Equal(t, "x", string(frame))
					return
				}
				assert.Equal(t, websocket.MessageBinary, typ)
				assert.Equal(t, specRecords(proto, specMessage{data: "x", event: "e", topic: "t"}), frame)
				_ = c.CloseNow()
			})
		}
	}
}

// TestHub_RegisterV2: a connection the application accepted with a v2
// subprotocol gets v2 records (the connSink path), with Packing for the
// packed one; what Subscriber.Send sends carries no topic record.
func TestHub_RegisterV2(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{fanout.ResumeSubprotocolV2, fanout.PackedSubprotocolV2} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			hub := fanout.NewHub(&fanout.HubOptions{Packing: true, PingInterval: -1})
			t.Cleanup(func() { require.NoError(t, hub.Close()) })
			srv, regs := registerServer(t, hub, &websocket.AcceptOptions{Subprotocols: []string{proto}})
			c := dialCoder(t, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{proto}})
			require.Equal(t, proto, c.Subprotocol())
			col := collectCoder(t, c)
			reg := recv(t, regs, "registration")
			require.NoError(t, reg.err)

			require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("pub")).WithEvent("e")))
			f := col.waitN(t, 1)[0]
			assert.Equal(t, specRecords(proto, specMessage{data: "pub", event: "e", topic: "t"}), f.data)

			require.NoError(t, reg.sub.Send(fanout.NewMessage([]byte("sent")).WithEvent("direct")))
			f = col.waitN(t, 2)[1]
			assert.Equal(t, specRecords(proto, specMessage{data: "sent", event: "direct"}), f.data)
		})
	}
}

// TestResume_V2ReplayCarriesEventAndTopic: a v2 client that resumes gets
// the messages it missed with their IDs, event types and topics, as live
// ones, on each of its topics; a v1 client resuming from the same ID gets
// the same messages in the v1 framing.
func TestResume_V2ReplayCarriesEventAndTopic(t *testing.T) {
	t.Parallel()
	e := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) { ho.PingInterval = -1 })
	ctx := context.Background()
	sse := e.rsOpenSSE(t, []string{"a", "b"}, "", false)
	require.NoError(t, e.hub.Publish(ctx, "a", fanout.NewMessage([]byte("first"))))
	from := sse.next(t).id
	missed := []specMessage{
		{data: "on a", event: "tick", topic: "a"},
		{data: "on b", topic: "b"},
		{data: "everyone", event: "all"},
	}
	for i := range missed {
		m := fanout.NewMessage([]byte(missed[i].data))
		if missed[i].event != "" {
			m = m.WithEvent(missed[i].event)
		}
		if missed[i].topic == "" {
			require.NoError(t, e.hub.Broadcast(ctx, m))
		} else {
			require.NoError(t, e.hub.Publish(ctx, missed[i].topic, m))
		}
		missed[i].id = sse.next(t).id
	}
	for _, proto := range []string{fanout.ResumeSubprotocolV2, fanout.ResumeSubprotocol} {
		u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws?topic=a&topic=b&lastEventId=" + url.QueryEscape(from)
		c := dialCoder(t, u, &websocket.DialOptions{Subprotocols: []string{proto}})
		require.Equal(t, proto, c.Subprotocol())
		col := collectCoder(t, c)
		var want, got []byte
		for _, m := range missed {
			want = append(want, specRecords(proto, m)...)
		}
		for i := 1; len(got) < len(want); i++ { // the replay may come in one frame or several
			got = append(got, col.waitN(t, i)[i-1].data...)
		}
		assert.Equal(t, want, got, proto)
	}
}

// TestUnpackRecords_Cases: what UnpackRecords accepts from v1 and v2
// frames, and what it rejects, with ErrBadPacked; and that Unpack reads
// packed v1 frames only, rejecting the records of the other subprotocols.
func TestUnpackRecords_Cases(t *testing.T) {
	t.Parallel()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	r := fuzzRecord
	valid := []struct {
		name  string
		frame []byte
		want  []fanout.Record
	}{
		{"v1 message with ID", cat(r(3, "k-1"), r(1, "a")), []fanout.Record{{ID: "k-1", Data: []byte("a")}}},
		{"v2 every prefix", cat(r(3, "k-2"), r(6, "ev"), r(7, "top"), r(2, "\xff")),
			[]fanout.Record{{Type: fanout.Binary, ID: "k-2", Event: "ev", Topic: "top", Data: []byte("\xff")}}},
		{"v2 event only", cat(r(6, "ev"), r(1, "")), []fanout.Record{{Event: "ev", Data: []byte{}}}},
		{"v2 topic only", cat(r(7, "top"), r(1, "x")), []fanout.Record{{Topic: "top", Data: []byte("x")}}},
		{"prefixes end with their message", cat(r(6, "ev"), r(1, "x"), r(1, "y")),
			[]fanout.Record{{Event: "ev", Data: []byte("x")}, {Data: []byte("y")}}},
		{"resync and position, then a message", cat(r(5, "k-0"), r(4, "unknown"), r(7, "t"), r(1, "z")),
			[]fanout.Record{{ID: "k-0", Position: true}, {Resync: true, Data: []byte("unknown")}, {Topic: "t", Data: []byte("z")}}},
	}
	for _, tc := range valid {
		var got []fanout.Record
		require.NoError(t, fanout.UnpackRecords(tc.frame, func(r fanout.Record) error { got = append(got, r); return nil }), tc.name)
		assert.Equal(t, tc.want, got, tc.name)
		err := fanout.Unpack(tc.frame, func(fanout.MessageType, []byte) error { return nil })
		assert.ErrorIs(t, err, fanout.ErrBadPacked, "Unpack: %s", tc.name)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"two IDs", cat(r(3, "a"), r(3, "b"), r(1, "x"))},
		{"two event types", cat(r(6, "a"), r(6, "b"), r(1, "x"))},
		{"two topics", cat(r(7, "a"), r(7, "b"), r(1, "x"))},
		{"topic before event type", cat(r(7, "t"), r(6, "e"), r(1, "x"))},
		{"event type before ID", cat(r(6, "e"), r(3, "k-1"), r(1, "x"))},
		{"empty event type", cat(r(6, ""), r(1, "x"))},
		{"empty topic", cat(r(7, ""), r(1, "x"))},
		{"event type ends the frame", cat(r(1, "x"), r(6, "e"))},
		{"topic ends the frame", r(7, "t")},
		{"topic before a resync", cat(r(7, "t"), r(4, "unknown"))},
		{"event type before a position", cat(r(6, "e"), r(5, "k-1"))},
		{"ID before a resync", cat(r(3, "k-1"), r(4, "unknown"))},
		{"ID before a position", cat(r(3, "k-1"), r(5, "k-2"))},
		{"kind 8", r(8, "x")},
	} {
		err := fanout.UnpackRecords(tc.frame, func(fanout.Record) error { return nil })
		assert.ErrorIs(t, err, fanout.ErrBadPacked, tc.name)
	}
	// Packed v1: Unpack reads it.
	var n int
	require.NoError(t, fanout.Unpack(cat(r(1, "a"), r(2, "b")), func(fanout.MessageType, []byte) error { n++; return nil }))
	assert.Equal(t, 2, n)
}
