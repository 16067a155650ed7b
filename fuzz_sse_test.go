package fanout_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// FuzzSSEEncoding publishes arbitrary messages through a real Broker to
// one long-lived SSE client (go-sse's parser) and checks each arrives
// intact: binary data base64-decodes to the input exactly, text equals the
// input with CRLF and lone CR turned into LF, and the ID and event type are
// unchanged. A message Publish rejects (an ID with CR, LF or NUL, an event
// type with CR or LF, text, an ID or an event type that is not UTF-8)
// fails with ErrInvalidMessage, and nothing is sent.
func FuzzSSEEncoding(f *testing.F) {
	f.Add([]byte("hello"), false, "", "")
	f.Add([]byte("hello\nworld"), false, "1", "update")
	f.Add([]byte("a\r\nb\rc\n\rd"), false, "id with spaces", "")
	f.Add([]byte(""), false, "", "")
	f.Add([]byte(""), true, "x", "")
	f.Add([]byte("\n"), false, "", "")
	f.Add([]byte("\r"), false, "", "")
	f.Add([]byte("\r\n\r\n"), false, "", "")
	f.Add([]byte("trailing\n"), false, "", "")
	f.Add([]byte("\n\nleading"), false, "", "")
	f.Add([]byte(": not a comment\ndata: not a field\nid: 9\n\n"), false, "", "")
	f.Add([]byte(" leading space"), false, " spaced id", " spaced event")
	f.Add([]byte{0, 1, 2, 0xff, 0xfe, '\n', '\r'}, true, "", "bin")
	f.Add([]byte("\xff\xfe invalid utf-8 \x00 nul"), false, "", "")
	f.Add([]byte("\ufeffbom"), false, "", "")
	f.Add([]byte(strings.Repeat("long line ", 10000)), false, "", "")
	f.Add([]byte("x"), false, "bad\nid", "")
	f.Add([]byte("x"), false, "bad\rid", "")
	f.Add([]byte("x"), false, "nul\x00id", "")
	f.Add([]byte("x"), false, "", "bad\nevent")
	f.Add([]byte("x"), false, "", "bad\revent")
	f.Add([]byte("x"), false, "", "nul\x00event")
	f.Add([]byte("x"), false, "", "message")
	f.Add([]byte("x"), false, "", fanout.ResyncEvent)

	e := rsServer(f, nil, true, func(_ *fanout.HubOptions, bo *fanout.BrokerOptions) {
		bo.Replay = nil // the IDs published are the IDs sent
	})
	feed := e.rsOpenSSE(f, []string{"f"}, "", false)
	lastID := "" // SSE's last event ID carries over events without an id field

	f.Fuzz(func(t *testing.T, data []byte, bin bool, id, event string) {
		m := fanout.NewMessage(data)
		if bin {
			m = fanout.NewBinaryMessage(data)
		}
		if id != "" {
			m = m.WithID(id)
		}
		if event != "" {
			m = m.WithEvent(event)
		}
		err := e.broker.Publish(context.Background(), "f", m)
		if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(event, "\r\n") ||
			!utf8.ValidString(id) || !utf8.ValidString(event) || !bin && !utf8.Valid(data) {
			require.ErrorIs(t, err, fanout.ErrInvalidMessage)
			return
		}
		require.NoError(t, err)
		if id != "" {
			lastID = id
		}

		ev := feed.nextRecord(t) // no store: an empty message after an ID is not a position
		if ev.id != lastID || ev.event != event {
			t.Fatalf("id %q event %q arrived as id %q event %q", lastID, event, ev.id, ev.event)
		}
		if bin {
			got, err := base64.StdEncoding.DecodeString(ev.data)
			require.NoError(t, err, "binary data is base64")
			if !bytes.Equal(got, data) {
				t.Fatalf("binary %x arrived as %x", data, got)
			}
			return
		}
		want := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
		if ev.data != want {
			t.Fatalf("text %q arrived as %q, want %q", data, ev.data, want)
		}
	})
}

// FuzzLastEventID resumes from arbitrary last-event IDs, made up or
// derived from the Ring's own, both against the Ring and through a
// Broker's request path (the ID in ?lastEventId=, escaped). Nothing may
// panic. The Ring either fails with ErrUnknownID or returns the tail of
// what it was given; an ID it assigned and still holds always succeeds
// and one it evicted always fails. Every request gets a 200 stream that
// starts with exactly that replay, or with one resync event, and goes on
// live.
func FuzzLastEventID(f *testing.F) {
	const size = 16
	for _, s := range []string{"", "0", "1", "-1", "x", "18446744073709551615", "99999999999999999999",
		"\x00", "\r\n", " ", "%", "+", "é", "\xff", strings.Repeat("9", 600), "1-1",
		"01", strings.Repeat("0", 600) + "1"} { // with mode 2: the Ring's epoch, then a sequence number

		for mode := range uint8(4) {
			f.Add(s, uint8(3), mode)
		}
	}

	resyncs := make(chan string, 16)
	e := rsServer(f, &fanout.RingOptions{Size: size}, true, func(_ *fanout.HubOptions, bo *fanout.BrokerOptions) {
		bo.OnResync = func(_ *fanout.Subscriber, lastID string, err error) {
			if errors.Is(err, fanout.ErrUnknownID) {
				resyncs <- lastID
			} else {
				resyncs <- fmt.Sprintf("error %v not ErrUnknownID", err)
			}
		}
	})
	// Everything published, in order, with its topic ("" for broadcasts):
	// what the Ring must agree with.
	type pub struct{ id, topic string }
	var all []pub
	feed := e.rsOpenSSE(f, []string{"t", "u"}, "", false)
	for i := range size + 8 {
		topic := []string{"t", "u", ""}[i%3]
		m := fanout.NewMessage(fmt.Appendf(nil, "m%d", i))
		if topic == "" {
			require.NoError(f, e.broker.Broadcast(context.Background(), m))
		} else {
			require.NoError(f, e.broker.Publish(context.Background(), topic, m))
		}
		r := feed.next(f)
		require.Equal(f, string(m.Data()), r.data)
		all = append(all, pub{r.id, topic})
	}
	feed.close()
	epoch := rsEpoch(f, all[0].id)
	since := func(k int) []string { // IDs of topic t and broadcasts after all[k]
		out := []string{}
		for _, p := range all[k+1:] {
			if p.topic != "u" {
				out = append(out, p.id)
			}
		}
		return out
	}
	n := 0

	f.Fuzz(func(t *testing.T, s string, pick, mode uint8) {
		last := len(all) - 1
		k := last - int(pick)%(size+1) // an ID the Ring still holds
		switch mode % 4 {
		case 1:
			s = all[k].id + s
		case 2:
			s = epoch + s
		case 3:
			s += all[k].id
		}
		ctx := context.Background()

		got, err := ringSince(ctx, e.ring, all[k].id, []string{"t"})
		require.NoError(t, err, "an ID the Ring holds")
		require.Equal(t, since(k), rsIDs(got))
		if ev := last - size - 1 - int(pick)%8; ev >= 0 {
			_, err = ringSince(ctx, e.ring, all[ev].id, []string{"t"})
			require.ErrorIs(t, err, fanout.ErrUnknownID, "an evicted ID")
		}

		replay, err := ringSince(ctx, e.ring, s, []string{"t"})
		if err != nil {
			require.ErrorIs(t, err, fanout.ErrUnknownID)
		} else {
			tail := since(0)
			require.LessOrEqual(t, len(replay), len(tail))
			require.Equal(t, tail[len(tail)-len(replay):], rsIDs(replay), "Since(%q) is a tail of the history", s)
		}
		resync := s != "" && (err != nil || len(s) > fanout.MaxLastEventIDLen || strings.ContainsAny(s, "\x00\r\n"))

		stream := rsOpenSSEURL(t, e.client, rsURL(e.srv.URL, "/sse", []string{"t"}, s, true), "", false)
		defer stream.close()
		n++
		marker := fmt.Sprintf("live%d", n)
		e.publish(t, "t", marker)
		if resync {
			r := stream.next(t)
			require.True(t, r.resync, "Since(%q) failed (%v): want a resync event first, got %+v", s, err, r)
			require.Equal(t, "unknown", r.data)
			require.Equal(t, s, recv(t, resyncs, "OnResync"))
		} else if s == "" { // a new stream: it starts with its position
			r := stream.nextRecord(t)
			require.True(t, r.position, "position: %+v", r)
			require.Equal(t, all[last].id, r.id, "position")
			require.Equal(t, all[last].id, r.data, "a position event's data is its ID")
		} else {
			require.Zero(t, len(resyncs), "OnResync without a resync")
			for _, m := range replay {
				r := stream.next(t)
				require.Equal(t, m.ID(), r.id, "replay from %q", s)
				require.Equal(t, string(m.Data()), r.data)
			}
		}
		r := stream.next(t)
		require.Equal(t, marker, r.data, "then live")
		require.False(t, r.resync)
		all = append(all, pub{r.id, "t"})
	})
}
