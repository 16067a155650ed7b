package fanout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// FuzzSSEEncoding publishes arbitrary messages through a real Broker to
// one long-lived SSE client (go-sse's parser) and checks each arrives
// intact: binary data base64-decodes to the input exactly, text equals the
// input with CRLF and lone CR turned into LF, and the ID and event type are
// unchanged. A message Publish rejects (an ID with CR, LF or NUL, an event
// type with CR or LF, text, an ID or an event type that is not UTF-8)
// fails with ErrInvalidMessage, and nothing is sent.
//
// The stream is the Broker's own (its HTTP/1 hijacked stream: the
// response head, then each event as the subscriber's writer writes it on
// a loopback TCP connection), but without an http.Server or an
// http.Client around it, and it is parsed on the fuzz goroutine, one event
// per exec (see sseWire): each exec is one synchronous round trip. Over
// net/http's client (a read loop and a reader goroutine per stream) an
// exec cost ~0.4ms and the coverage it reported depended on timing, so
// the fuzzer kept finding "new" inputs it then could not reproduce, and
// each minimization ran into -fuzzminimizetime (60s of 0 execs/sec, the
// worker killed and restarted).
//
// A 100 KB message is checked once, before fuzzing, rather than seeded:
// as a seed, every input derived from it was minimized by removing one
// byte at a time, a 100 KB publish per try, which also ran for the whole
// minute.
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
	f.Add([]byte(strings.Repeat("long line ", 100)), false, "", "")
	f.Add([]byte("x"), false, "bad\nid", "")
	f.Add([]byte("x"), false, "bad\rid", "")
	f.Add([]byte("x"), false, "nul\x00id", "")
	f.Add([]byte("x"), false, "", "bad\nevent")
	f.Add([]byte("x"), false, "", "bad\revent")
	f.Add([]byte("x"), false, "", "nul\x00event")
	f.Add([]byte("x"), false, "", "message")
	f.Add([]byte("x"), false, "", fanout.ResyncEvent)

	broker := fanout.NewBroker(nil) // no store: the IDs published are the IDs sent
	f.Cleanup(func() { require.NoError(f, broker.Close()) })
	wire := openSSEWire(f, broker, "/sse?topic=f")
	lastID := "" // SSE's last event ID carries over events without an id field

	check := func(t testing.TB, data []byte, bin bool, id, event string) {
		t.Helper()
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
		err := broker.Publish(context.Background(), "f", m)
		if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(event, "\r\n") ||
			!utf8.ValidString(id) || !utf8.ValidString(event) || !bin && !utf8.Valid(data) {
			require.ErrorIs(t, err, fanout.ErrInvalidMessage)
			return
		}
		require.NoError(t, err)
		if id != "" {
			lastID = id
		}

		ev := wire.next(t) // no store: an empty message after an ID is not a position
		if ev.LastEventID != lastID || ev.Type != event {
			t.Fatalf("id %q event %q arrived as id %q event %q", lastID, event, ev.LastEventID, ev.Type)
		}
		if bin {
			got, err := base64.StdEncoding.DecodeString(ev.Data)
			require.NoError(t, err, "binary data is base64")
			if !bytes.Equal(got, data) {
				t.Fatalf("binary %x arrived as %x", data, got)
			}
			return
		}
		want := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
		if ev.Data != want {
			t.Fatalf("text %q arrived as %q, want %q", data, ev.Data, want)
		}
	}
	long := strings.Repeat("long line ", 10000) // longer than bufio.Scanner's default 64 KiB token
	check(f, []byte(long), false, "", "")
	check(f, []byte(long+"\r\n"+long), true, "long", "long")

	f.Fuzz(func(t *testing.T, data []byte, bin bool, id, event string) {
		check(t, data, bin, id, event)
	})
}

// sseWire is a subscriber's SSE stream from a Broker, on a loopback TCP
// connection that the Broker takes over as it does net/http's (the
// hijacked HTTP/1 stream, its production path), read with go-sse's parser
// on the caller's goroutine: next pulls one event (iter.Pull2), reading
// the socket only as far as it needs. No goroutine of the test's reads the
// stream, so an exec that publishes one event and reads it back is one
// synchronous round trip, with nothing left in flight.
type sseWire struct {
	conn net.Conn // the client's end
	pull func() (sse.Event, error, bool)
}

// openSSEWire requests target (a path and query) of b, on a connection of
// its own, and reads the response head. The stream is closed when tb ends.
func openSSEWire(tb testing.TB, b *fanout.Broker, target string) *sseWire {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = client.Close() })
	server, err := ln.Accept()
	require.NoError(tb, err)

	req := httptest.NewRequest(http.MethodGet, target, nil) // parsed as net/http's server parses a request line
	w := &hijackWriter{conn: server, h: http.Header{}}
	b.ServeHTTP(w, req) // returns once the stream is subscribed and its head written
	if !w.hijacked {
		_ = server.Close()
		tb.Fatalf("SSE stream not served on its connection: status %d: %s", w.status, w.body.String())
	}
	_ = client.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(client), req)
	require.NoError(tb, err)
	require.Equal(tb, http.StatusOK, resp.StatusCode)
	require.Equal(tb, "text/event-stream", resp.Header.Get("Content-Type"))
	pull, stop := iter.Pull2(sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 16 << 20}))
	tb.Cleanup(stop) // before the connection closes (cleanups run last first)
	return &sseWire{conn: client, pull: pull}
}

// next returns the next event, failing t if none comes in time or the
// stream ends first.
func (w *sseWire) next(t testing.TB) sse.Event {
	t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	ev, err, ok := w.pull()
	if !ok {
		t.Fatalf("stream ended before the next event")
	}
	require.NoError(t, err, "the next event, within %v", waitTimeout)
	return ev
}

// record returns the next event as an rsRecord (see rsOpenSSEURL).
func (w *sseWire) record(t testing.TB) rsRecord {
	t.Helper()
	ev := w.next(t)
	return rsRecord{id: ev.LastEventID, event: ev.Type, data: ev.Data, resync: ev.Type == fanout.ResyncEvent,
		position: ev.Type == fanout.PositionEvent}
}

// nonPosition returns the next record that is not a position.
func (w *sseWire) nonPosition(t testing.TB) rsRecord {
	t.Helper()
	for {
		if r := w.record(t); !r.position {
			return r
		}
	}
}

// hijackWriter is the http.ResponseWriter of a request whose connection
// is conn: Hijack hands it over. What is written without hijacking (a
// refusal) is kept for the failure message.
type hijackWriter struct {
	conn     net.Conn
	h        http.Header
	status   int
	body     bytes.Buffer
	hijacked bool
}

func (w *hijackWriter) Header() http.Header { return w.h }

func (w *hijackWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
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
			// The Ring holds the last size messages: a replay is a tail of
			// the last 2*size (or of the whole history, while it is shorter).
			tail := since(max(0, last-2*size))
			require.LessOrEqual(t, len(replay), len(tail))
			require.Equal(t, tail[len(tail)-len(replay):], rsIDs(replay), "Since(%q) is a tail of the history", s)
		}
		resync := s != "" && (err != nil || len(s) > fanout.MaxLastEventIDLen || strings.ContainsAny(s, "\x00\r\n"))

		stream := openSSEWire(t, e.broker, rsURL("", "/sse", []string{"t"}, s, true))
		n++
		marker := fmt.Sprintf("live%d", n)
		e.publish(t, "t", marker)
		if resync {
			r := stream.nonPosition(t)
			require.True(t, r.resync, "Since(%q) failed (%v): want a resync event first, got %+v", s, err, r)
			require.Equal(t, "unknown", r.data)
			require.Equal(t, s, recv(t, resyncs, "OnResync"))
		} else if s == "" { // a new stream: it starts with its position
			r := stream.record(t)
			require.True(t, r.position, "position: %+v", r)
			require.Equal(t, all[last].id, r.id, "position")
			require.Equal(t, all[last].id, r.data, "a position event's data is its ID")
		} else {
			require.Zero(t, len(resyncs), "OnResync without a resync")
			for _, m := range replay {
				r := stream.nonPosition(t)
				require.Equal(t, m.ID(), r.id, "replay from %q", s)
				require.Equal(t, string(m.Data()), r.data)
			}
		}
		r := stream.nonPosition(t)
		require.Equal(t, marker, r.data, "then live")
		require.False(t, r.resync)
		all = append(all, pub{r.id, "t"})
		if len(all) > 8*size {
			// Keep the history bounded: every check above looks at its last
			// 2*size+9 entries at most. (It grew by one entry per exec, and
			// the tail check walked all of it: each exec got slower.)
			all = slices.Clone(all[len(all)-4*size:])
		}
	})
}
