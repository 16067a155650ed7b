package client_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// TestClient_Modes: what each WebSocket mode negotiates with a Hub, and
// what a message carries through it and through SSE: its ID (resume and
// SSE), event type (v2 and SSE), topic (v2 only: SSE has none) and type
// (SSE carries binary data as base64 text). A broadcast has no topic.
func TestClient_Modes(t *testing.T) {
	cases := []struct {
		name       string
		mode       client.Mode
		sse        bool
		packing    bool
		proto      string
		ids, topic bool
		event      bool
	}{
		{name: "resume", mode: client.ModeResume, proto: fanout.ResumeSubprotocolV2, ids: true, topic: true, event: true},
		{name: "packed", mode: client.ModePacked, packing: true, proto: fanout.PackedSubprotocolV2, topic: true, event: true},
		{name: "packed without Packing", mode: client.ModePacked, proto: ""},
		{name: "plain", mode: client.ModePlain, packing: true, proto: ""},
		{name: "sse", sse: true, ids: true, event: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := storeOptions()
			opts.Packing = tc.packing
			s := newServer(t, opts)
			u := s.wsURL("room")
			if tc.sse {
				u = s.sseURL("room")
			}
			o := &client.Options{Mode: tc.mode}
			ev := hook(o)
			c := dial(t, u, o)
			if p := ev.connected(t); p != tc.proto {
				t.Fatalf("subprotocol %q, want %q", p, tc.proto)
			}
			hub := s.current()
			ctx := context.Background()
			bin := []byte{0, 1, 2, 0xff}
			if err := hub.Publish(ctx, "room", fanout.NewMessage([]byte("hi")).WithEvent("chat")); err != nil {
				t.Fatal(err)
			}
			if err := hub.Publish(ctx, "room", fanout.NewBinaryMessage(bin)); err != nil {
				t.Fatal(err)
			}
			if err := hub.Broadcast(ctx, fanout.NewMessage([]byte("all"))); err != nil {
				t.Fatal(err)
			}

			var got [3]client.Message
			for i := range got {
				m, err := c.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got[i] = m
			}
			for i, m := range got {
				if m.Resync {
					t.Fatalf("message %d is a resync", i)
				}
				if (m.ID != "") != tc.ids {
					t.Errorf("message %d has ID %q; want one: %v", i, m.ID, tc.ids)
				}
			}
			if string(got[0].Data) != "hi" || got[0].Type != fanout.Text {
				t.Errorf("text message: %+v", got[0])
			}
			if (got[0].Event == "chat") != tc.event || (got[0].Topic == "room") != tc.topic {
				t.Errorf("event %q and topic %q; want them: %v, %v", got[0].Event, got[0].Topic, tc.event, tc.topic)
			}
			wantBin := client.Message{ID: got[1].ID, Type: fanout.Binary, Data: bin}
			if tc.topic {
				wantBin.Topic = "room"
			}
			if tc.sse {
				wantBin.Type, wantBin.Data = fanout.Text, []byte(base64.StdEncoding.EncodeToString(bin))
			}
			if !equal(got[1], wantBin) {
				t.Errorf("binary message: %+v, want %+v", got[1], wantBin)
			}
			if string(got[2].Data) != "all" || got[2].Topic != "" {
				t.Errorf("broadcast: %+v", got[2])
			}
		})
	}
}

func equal(a, b client.Message) bool {
	return a.ID == b.ID && a.Event == b.Event && a.Topic == b.Topic && a.Type == b.Type &&
		string(a.Data) == string(b.Data) && a.Resync == b.Resync
}

// TestClient_Unresumable: a client that reconnects with no way to resume
// (packed and plain modes carry no IDs; a server without a store gives
// none) says so with a resync of its own, ResyncUnresumable, before the
// new connection's messages, rather than leave a gap unsaid. The first
// connection has nothing to resync.
func TestClient_Unresumable(t *testing.T) {
	cases := []struct {
		name  string
		mode  client.Mode
		sse   bool
		store bool
	}{
		{name: "packed", mode: client.ModePacked, store: true},
		{name: "plain", mode: client.ModePlain, store: true},
		{name: "resume without a store", mode: client.ModeResume},
		{name: "sse without a store", sse: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := storeOptions()
			opts.Packing = true
			if !tc.store {
				opts.Replay = nil
			}
			s := newServer(t, opts)
			u := s.wsURL("room")
			if tc.sse {
				u = s.sseURL("room")
			}
			o := &client.Options{Mode: tc.mode}
			ev := hook(o)
			r := startReader(t, dial(t, u, o))
			ev.connected(t)
			s.publish("room", 1, 2)
			checkSequence(t, r.numbers(2), 1, 2)

			s.ln.arm()
			s.publish("room", 3, 3)
			s.ln.waitCut(t)
			ev.connected(t)
			m := r.next()
			if !m.Resync || string(m.Data) != client.ResyncUnresumable {
				t.Fatalf("after reconnecting: %+v, want a resync %q", m, client.ResyncUnresumable)
			}
			s.publish("room", 4, 5)
			checkSequence(t, r.numbers(2), 4, 5)
		})
	}
}

// TestClient_Payloads: a text message arrives as it was published over
// WebSocket; over SSE, whose events are lines, CR and CRLF line breaks
// arrive as LF (as in every SSE client), and the rest as it was: empty
// data, trailing and leading line breaks and spaces, a byte order mark.
func TestClient_Payloads(t *testing.T) {
	payloads := []struct{ sent, overSSE string }{
		{"", ""},
		{"a\nb", "a\nb"},
		{"a\r\nb", "a\nb"},
		{"a\rb", "a\nb"},
		{"x\n", "x\n"},
		{"\n\n", "\n\n"},
		{" lead", " lead"},
		{"\ufeffbom", "\ufeffbom"},
		{"data: not a field\n\nid: 1", "data: not a field\n\nid: 1"},
	}
	for _, sse := range []bool{false, true} {
		s := newServer(t, storeOptions())
		u := s.wsURL("room")
		if sse {
			u = s.sseURL("room")
		}
		c := dial(t, u, nil)
		s.subscriber()
		for _, p := range payloads {
			if err := s.current().Publish(context.Background(), "room", fanout.NewMessage([]byte(p.sent))); err != nil {
				t.Fatal(err)
			}
			m, err := c.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := p.sent
			if sse {
				want = p.overSSE
			}
			if string(m.Data) != want || m.Resync || m.ID == "" {
				t.Errorf("sse %v: %q arrived as %+v, want %q", sse, p.sent, m, want)
			}
		}
	}
}
