// The Broker's SSE output (broker.go, ssesink.go) against the SSE spec's
// parser (go-sse) and the spec's parsing rules.

package fanout_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// The SSE side of conformance: what the Broker writes must parse, by the
// WHATWG HTML standard's event stream rules ("9.2.6 Interpreting an event
// stream"), to the events that were published. Two parsers read every
// stream: go-sse's (sse.Read, which the project's tests use elsewhere) and
// specParse below, written from the standard's algorithm; they must agree
// with each other and with what was published.

// specEvent is an event as the standard's algorithm dispatches it.
type specEvent struct {
	Type, Data, LastEventID string
}

// specParse interprets stream by the standard's algorithm, and returns the
// events it dispatches and the reconnection times (retry fields) it sets,
// in order.
//
//   - The stream is UTF-8 decoded (here each invalid byte becomes U+FFFD;
//     the Broker only writes valid UTF-8), and one leading U+FEFF (BOM)
//     is skipped.
//   - Lines end with CRLF, LF or CR; what follows the last line ending is
//     an incomplete line, discarded at the end of the stream.
//   - A blank line dispatches; a line starting with ':' is a comment; a
//     line with a colon is a field named before it whose value follows it,
//     less one leading space; a line without one is a field with an
//     empty value.
//   - data appends its value and a LF to the data buffer; event sets the
//     event type buffer; id sets the last event ID buffer unless its value
//     contains U+0000; retry sets the reconnection time when its value is
//     ASCII digits only; other fields are ignored.
//   - To dispatch: the event source's last event ID becomes the buffer's;
//     if the data buffer is empty, both buffers are reset and nothing is
//     dispatched; otherwise one trailing LF is removed from the data, and
//     an event of the buffer's type (or "message") is dispatched, with the
//     data and the last event ID; the data and type buffers are reset.
func specParse(stream []byte) (events []specEvent, retries []int64) {
	var text strings.Builder
	for len(stream) > 0 {
		r, n := utf8.DecodeRune(stream)
		text.WriteRune(r) // utf8.RuneError (U+FFFD) for an invalid byte
		stream = stream[n:]
	}
	s := strings.TrimPrefix(text.String(), "\ufeff")

	var data, typ strings.Builder
	idBuf, lastID := "", ""
	dispatch := func() {
		lastID = idBuf
		if data.Len() == 0 {
			typ.Reset()
			return
		}
		d := strings.TrimSuffix(data.String(), "\n")
		t := typ.String()
		if t == "" {
			t = "message"
		}
		events = append(events, specEvent{Type: t, Data: d, LastEventID: lastID})
		data.Reset()
		typ.Reset()
	}
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return events, retries // an incomplete line, or nothing: discarded
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]

		switch {
		case line == "":
			dispatch()
			continue
		case line[0] == ':':
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			typ.Reset()
			typ.WriteString(value)
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				if n, err := strconv.ParseInt(value, 10, 64); err == nil {
					retries = append(retries, n)
				}
			}
		}
	}
}

// goSSEParse reads stream with go-sse's parser, its events put in
// specEvent's terms (an unnamed event's type is "message").
func goSSEParse(stream []byte) ([]specEvent, error) {
	var out []specEvent
	for ev, err := range sse.Read(bytes.NewReader(stream), &sse.ReadConfig{MaxEventSize: 4 << 20}) {
		if err != nil {
			return out, err
		}
		if ev.Type == "" {
			ev.Type = "message"
		}
		out = append(out, specEvent{Type: ev.Type, Data: ev.Data, LastEventID: ev.LastEventID})
	}
	return out, nil
}

// sseCase is a message published in the conformance stream.
type sseCase struct {
	data      string
	bin       bool
	id, event string
}

func (c sseCase) message() *fanout.Message {
	m := fanout.NewMessage([]byte(c.data))
	if c.bin {
		m = fanout.NewBinaryMessage([]byte(c.data))
	}
	if c.id != "" {
		m = m.WithID(c.id)
	}
	if c.event != "" {
		m = m.WithEvent(c.event)
	}
	return m
}

// want returns the event c must parse to, after an event whose last event
// ID was lastID: the data as published (CR and CRLF line breaks arrive as
// LF: SSE carries lines; binary data base64-encoded), the type (or
// "message"), and the id, which stays until another replaces it.
func (c sseCase) want(lastID string) specEvent {
	d := strings.ReplaceAll(strings.ReplaceAll(c.data, "\r\n", "\n"), "\r", "\n")
	if c.bin {
		d = base64.StdEncoding.EncodeToString([]byte(c.data))
	}
	if c.id != "" {
		lastID = c.id
	}
	t := c.event
	if t == "" {
		t = "message"
	}
	return specEvent{Type: t, Data: d, LastEventID: lastID}
}

// sseCases are payloads, IDs and event types that probe each parsing rule.
var sseCases = []sseCase{
	{data: "hello"},
	{data: "", id: "1"},                             // empty data: still an event
	{data: "line one\nline two", id: "2"},           // LF
	{data: "line one\r\nline two", event: "update"}, // CRLF
	{data: "line one\rline two"},                    // lone CR
	{data: "\n"}, {data: "\r"}, {data: "\r\n"},      // only a line break
	{data: "\n\n"}, {data: "\r\n\r\n"}, {data: "\r\r"}, // blank lines (which would dispatch)
	{data: "trailing\n"}, {data: "trailing\r"}, {data: "\nleading"},
	{data: "\ufeffbom at the start of data"}, // kept: only the stream's first BOM is skipped
	{data: ": not a comment"},                // a data line starting with ':'
	{data: "line\n: nor this"},
	{data: " leading space"}, {data: "  two spaces"}, {data: "\ttab"},
	{data: "data: not a field\nid: 99\nevent: no\nretry: 1\n\nstill data"},
	{data: "nul \x00 byte"},
	{data: "ünïcödé ✓ 日本語"},
	{data: "\x00\xff\xfe\n\r binary", bin: true},
	{data: "", bin: true, id: "empty binary"},
	{data: strings.Repeat("long line ", 10000)},
	{data: "x", id: "id with spaces"},
	{data: "x", id: " leading space id"},
	{data: "x", id: "id:with:colons"},
	{data: "x", id: "ïd"},
	{data: "x", event: " spaced event"},
	{data: "x", event: "event:with:colons"},
	{data: "x", event: "nul\x00event"}, // NUL is allowed in a type
	{data: "x", event: "message"},
	{data: "no id: the last one stays"},
}

// sseRefused are IDs and types the Broker refuses (ErrInvalidMessage): an
// id with NUL would be ignored by every client (so the last event ID would
// silently not move), and CR or LF would end the field early.
var sseRefused = []sseCase{
	{data: "x", id: "nul\x00id"},
	{data: "x", id: "cr\rid"},
	{data: "x", id: "lf\nid"},
	{data: "x", id: "crlf\r\nid"},
	{data: "x", event: "cr\revent"},
	{data: "x", event: "lf\nevent"},
}

// TestConformance_SSE publishes sseCases to a real stream, with a retry
// field and heartbeat comments among them, on both of the Broker's paths,
// then checks the whole stream parses, with both parsers, to exactly the
// events published, ending with the close event.
func TestConformance_SSE(t *testing.T) {
	t.Parallel()
	for _, through := range []bool{false, true} {
		t.Run(fmt.Sprintf("ThroughResponseWriter=%v", through), func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{
				Retry:                 1500 * time.Millisecond,
				Heartbeat:             5 * time.Millisecond, // comments between events
				ThroughResponseWriter: through,
			}
			h := newSSEHooks(&opts)
			s := newSSEServer(t, &opts)
			raw := sseReadRaw(t, sseGet(t, s.url("topic=t"), nil))
			sub := h.sub(t)
			raw.waitFor(t, "keepalive")

			for _, c := range sseRefused {
				assert.ErrorIs(t, s.broker.Publish(sseCtx, "t", c.message()), fanout.ErrInvalidMessage, "%+v", c)
			}
			var want []specEvent
			lastID := ""
			for _, c := range sseCases {
				require.NoError(t, s.broker.Publish(sseCtx, "t", c.message()), "%+v", c)
				ev := c.want(lastID)
				want, lastID = append(want, ev), ev.LastEventID
			}
			raw.waitFor(t, "no id: the last one stays")
			require.NoError(t, sub.CloseWith(4001, "bye"))
			closedWithin(t, raw.done, "the stream's end")
			want = append(want, specEvent{Type: fanout.CloseEvent, Data: "4001 bye", LastEventID: lastID})

			stream := []byte(raw.String())
			got, retries := specParse(stream)
			assert.Equal(t, []int64{1500}, retries, "retry")
			assert.Equal(t, want, got, "the standard's algorithm")
			gotGo, err := goSSEParse(stream)
			require.NoError(t, err)
			assert.Equal(t, want, gotGo, "go-sse")
			t.Logf("%d events in %d bytes, %d heartbeats", len(got), len(stream), strings.Count(raw.String(), ": keepalive\n"))
		})
	}
}

// FuzzSSEConformance checks the equivalence for arbitrary messages: the
// event the Broker prepares for one (the bytes every stream carries),
// between two others, parses with both parsers to the same three events,
// the middle one what was published; a message Publish refuses is skipped
// (FuzzSSEEncoding checks the refusals on a real Broker).
func FuzzSSEConformance(f *testing.F) {
	for _, c := range append(append([]sseCase{}, sseCases...), sseRefused...) {
		f.Add([]byte(c.data), c.bin, c.id, c.event)
	}
	f.Add([]byte("\xff not UTF-8"), false, "", "")
	before, _ := sseCase{data: "before", id: "b0"}.message().SSEEvent()
	after, _ := sseCase{data: "after\r\n"}.message().SSEEvent()
	f.Fuzz(func(t *testing.T, data []byte, bin bool, id, event string) {
		c := sseCase{data: string(data), bin: bin, id: id, event: event}
		if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(event, "\r\n") ||
			!utf8.ValidString(id) || !utf8.ValidString(event) || !bin && !utf8.Valid(data) {
			return // refused by Publish
		}
		ev, err := c.message().SSEEvent()
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		stream := bytes.Join([][]byte{before, ev, after}, nil)
		mid := c.want("b0")
		want := []specEvent{{"message", "before", "b0"}, mid, {"message", "after\n", mid.LastEventID}}
		got, retries := specParse(stream)
		if len(retries) > 0 || !eventsEqual(got, want) {
			t.Fatalf("the standard's algorithm parses %q as %+v (retries %v), want %+v", ev, got, retries, want)
		}
		gotGo, err := goSSEParse(stream)
		if err != nil || !eventsEqual(gotGo, want) {
			t.Fatalf("go-sse parses %q as %+v (%v), want %+v", ev, gotGo, err, want)
		}
	})
}

func eventsEqual(a, b []specEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSpecParse anchors specParse to the standard's own examples and
// rules, so that agreeing with it means something.
func TestSpecParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stream string
		want         []specEvent
		retries      []int64
	}{
		{"the standard's stock example", "data: YHOO\ndata: +2\ndata: 10\n\n",
			[]specEvent{{"message", "YHOO\n+2\n10", ""}}, nil},
		{"comments and ids", ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
			[]specEvent{{"message", "first event", "1"}, {"message", "second event", ""}}, nil},
		{"empty data dispatches, no data does not", "data\n\ndata\ndata\n\ndata:\n",
			[]specEvent{{"message", "", ""}, {"message", "\n", ""}}, nil},
		{"a colon and a space", "data:test\n\ndata: test\n\n",
			[]specEvent{{"message", "test", ""}, {"message", "test", ""}}, nil},
		{"CR, LF and CRLF", "data: a\rdata: b\r\ndata: c\n\r\n", []specEvent{{"message", "a\nb\nc", ""}}, nil},
		{"a leading BOM is skipped once", "\ufeffdata: x\n\n\ufeffdata: y\n\n",
			[]specEvent{{"message", "x", ""}}, nil},
		{"an id with NUL is ignored", "id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
			[]specEvent{{"message", "a", "1"}, {"message", "b", "1"}}, nil},
		{"an event type without data dispatches nothing", "event: e\n\ndata: d\n\n", []specEvent{{"message", "d", ""}}, nil},
		{"retry: digits only", "retry: 1000\n\nretry: 1x\n\nretry:\n\nretry: 20\n\n", nil, []int64{1000, 20}},
		{"an incomplete event is discarded", "data: a\n\ndata: b\n", []specEvent{{"message", "a", ""}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, retries := specParse([]byte(tc.stream))
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.retries, retries)
		})
	}
}
