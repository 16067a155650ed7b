package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// sseBadID is a last-event ID a client may send, and how it is sent.
type sseBadID struct {
	name  string
	id    string
	query bool // as ?lastEventId= rather than the Last-Event-ID header
}

// sseOpenResuming opens a stream that asks to resume from id.
func sseOpenResuming(t *testing.T, s *sseServer, id string, query bool) *sseStream {
	t.Helper()
	if query {
		return sseOpen(t, s.url("topic=t&lastEventId="+url.QueryEscape(id)), nil)
	}
	return sseOpen(t, s.url("topic=t"), http.Header{"Last-Event-ID": {id}})
}

// Every malformed, foreign or oversized last-event ID, by header or query,
// with or without a store, gets a resync event and an OnResync call (or,
// where net/http refuses the request itself, a clear status), while a
// client streaming meanwhile loses nothing.
func TestBroker_BadLastEventID(t *testing.T) {
	t.Parallel()
	for _, withRing := range []bool{false, true} {
		name := "no store"
		if withRing {
			name = "ring"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{Heartbeat: -1}
			if withRing {
				opts.Replay = fanout.NewRing(nil)
			}
			h := newSSEHooks(&opts)
			s := newSSEServer(t, &opts)
			good := sseOpen(t, s.url("topic=t"), nil)
			h.sub(t)
			require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("seed"))))
			seed := good.waitN(t, 1)[0].LastEventID
			require.Equal(t, withRing, seed != "", "a store assigns IDs")

			const n = 100
			published := make(chan error, 1)
			go func() {
				for i := range n {
					if err := s.broker.Publish(sseCtx, "t", num(i)); err != nil {
						published <- err
						return
					}
				}
				published <- nil
			}()

			cases := []sseBadID{
				{name: "garbage", id: "not-an-id"},
				{name: "4 KB", id: strings.Repeat("a", 4<<10)},
				{name: "64 KB", id: strings.Repeat("b", 64<<10)},
				{name: "just over the limit", id: strings.Repeat("c", fanout.MaxLastEventIDLen+1)},
				{name: "unicode", id: "héllo-🙂-\u202e-\ufeff"},
				{name: "invalid UTF-8", id: "\xff\xfe\xfd"},
				{name: "NUL", id: "a\x00b", query: true},
				{name: "CRLF", id: "a\r\nb", query: true},
				{name: "valid-looking", id: "k2f9w-1"},
			}
			if withRing {
				epoch, _, _ := strings.Cut(seed, "-")
				cases = append(cases,
					sseBadID{name: "future", id: epoch + "-999999"},
					sseBadID{name: "no sequence", id: epoch + "-"},
					sseBadID{name: "suffix", id: seed + "x"},
					sseBadID{name: "seed and NUL", id: seed + "\x00", query: true},
					sseBadID{name: "seed padded past the limit", id: seed + strings.Repeat("0", fanout.MaxLastEventIDLen)},
					sseBadID{name: "another epoch", id: "zzzzzz" + seed[len(epoch):]},
				)
			}
			for _, tc := range cases {
				for _, query := range []bool{false, true} {
					if tc.query && !query {
						continue // not a valid header value: see TestBroker_LastEventIDRefusedByNetHTTP
					}
					st := sseOpenResuming(t, s, tc.id, query)
					sub := h.sub(t)
					ev := st.waitN(t, 1)[0]
					assert.Equal(t, sse.Event{Type: fanout.ResyncEvent, Data: "unknown"}, ev,
						"%s (query %v)", tc.name, query)
					r := h.resync(t, sub)
					assert.Equal(t, tc.id, r.lastID, tc.name)
					assert.ErrorIs(t, r.err, fanout.ErrUnknownID, tc.name)
					assert.Len(t, h.resyncOf(sub), 1, "%s (query %v): OnResync calls", tc.name, query)
					_ = st.resp.Body.Close()
				}
			}

			// An empty ID is no ID: a fresh, live subscription.
			for _, query := range []bool{false, true} {
				st := sseOpenResuming(t, s, "", query)
				sub := h.sub(t)
				require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("live"))))
				evs := st.waitN(t, 1)
				assert.NotEqual(t, fanout.ResyncEvent, evs[0].Type, "empty ID (query %v)", query)
				assert.Empty(t, h.resyncOf(sub), "empty ID (query %v)", query)
				_ = st.resp.Body.Close()
			}

			require.NoError(t, recv(t, published, "publisher's end"))
			require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("end"))))
			var got []string
			for _, d := range sseData(good.waitN(t, n+4)) {
				if d != "live" {
					got = append(got, d)
				}
			}
			assert.Equal(t, append(append([]string{"seed"}, nums(0, n)...), "end"), got,
				"the well-behaved client lost nothing")
		})
	}
}

// A client resuming through the query parameter (for clients that cannot
// set headers) gets exactly what it missed, then the live stream.
func TestBroker_ResumeByQuery(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Replay: fanout.NewRing(nil), Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	first := sseOpen(t, s.url("topic=t"), nil)
	h.sub(t)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(0)))
	last := first.waitN(t, 1)[0].LastEventID
	_ = first.resp.Body.Close()
	for i := 1; i < 5; i++ {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	st := sseOpenResuming(t, s, last, true)
	sub := h.sub(t)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(5)))
	assert.Equal(t, nums(1, 6), sseData(st.waitN(t, 5)))
	assert.Empty(t, h.resyncOf(sub))
}

// Header values net/http refuses never reach the Broker: the client gets
// net/http's status, and no subscriber is made.
func TestBroker_LastEventIDRefusedByNetHTTP(t *testing.T) {
	t.Parallel()
	var opts fanout.BrokerOptions
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)

	for _, tc := range []struct {
		name, id string
		want     int
	}{
		{"NUL", "a\x00b", http.StatusBadRequest},
		{"control character", "a\x01b", http.StatusBadRequest},
		{"2 MB, over MaxHeaderBytes", strings.Repeat("z", 2<<20), http.StatusRequestHeaderFieldsTooLarge},
	} {
		code, _ := sseRawRequest(t, s, "GET /?topic=t HTTP/1.1\r\nHost: fanout.test\r\n"+
			"Last-Event-ID: "+tc.id+"\r\n\r\n")
		assert.Equal(t, tc.want, code, tc.name)
	}
	assert.Zero(t, s.broker.Len())
	assert.Empty(t, h.connected)
}

// Publish refuses a message whose ID or event type would break the SSE
// framing, on every publishing path, and delivers (and stores) nothing.
func TestBroker_PublishInvalidMessage(t *testing.T) {
	t.Parallel()
	for _, withRing := range []bool{false, true} {
		name := "no store"
		if withRing {
			name = "ring"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{Heartbeat: -1}
			var ring *fanout.Ring
			if withRing {
				ring = fanout.NewRing(nil)
				opts.Replay = ring
			}
			h := newSSEHooks(&opts)
			s := newSSEServer(t, &opts)
			st := sseOpen(t, s.url("topic=t"), nil)
			sub := h.sub(t)
			// With a store, the stream starts with its position: once it is
			// written, the queue shows only what the publishes add.
			eventually(t, func() bool { return sub.QueueLen() == 0 }, waitTimeout, "the position written")

			m := fanout.NewMessage([]byte("bad"))
			all := func(*fanout.Subscriber) bool { return true }
			for _, tc := range []struct {
				name string
				err  error
			}{
				{"ID with LF", s.broker.Publish(sseCtx, "t", m.WithID("a\nb"))},
				{"ID with CR", s.broker.Publish(sseCtx, "t", m.WithID("a\rb"))},
				{"ID with NUL", s.broker.Publish(sseCtx, "t", m.WithID("a\x00b"))},
				{"ID ending in LF", s.broker.Publish(sseCtx, "t", m.WithID("a\n"))},
				{"event with CR", s.broker.Publish(sseCtx, "t", m.WithEvent("x\ry"))},
				{"event with LF", s.broker.Publish(sseCtx, "t", m.WithEvent("x\ny"))},
				{"broadcast", s.broker.Broadcast(sseCtx, m.WithID("\n"))},
				{"filtered broadcast", s.broker.BroadcastFilter(sseCtx, m.WithEvent("\r"), all)},
				{"send", sub.Send(m.WithID("a\nb"))},
				{"send event", sub.Send(m.WithEvent("a\r\nb"))},
			} {
				assert.ErrorIs(t, tc.err, fanout.ErrInvalidMessage, tc.name)
			}
			assert.Zero(t, sub.QueueLen())

			require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("ok"))))
			evs := st.waitN(t, 1)
			assert.Equal(t, "ok", evs[0].Data, "nothing before it")
			stats := s.broker.Stats()
			assert.EqualValues(t, 1, stats.Published)
			eventually(t, func() bool { return s.broker.Stats().Delivered == 1 }, waitTimeout, "1 delivery")
			if withRing {
				assert.Equal(t, 1, ring.Len(), "nothing invalid stored")
				assert.True(t, strings.HasSuffix(evs[0].LastEventID, "-1"), "the first ID: %q", evs[0].LastEventID)
			}
		})
	}
}

// A store that fails makes the subscriber resync with "unavailable": it
// cannot tell what was missed either.
func TestBroker_ResyncWhenStoreFails(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Replay: sseFailingStore{fanout.NewRing(nil)}, Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	head, err := opts.Replay.Head(sseCtx)
	require.NoError(t, err)
	st := sseOpenResuming(t, s, head.ID(), false)
	sub := h.sub(t)
	assert.Equal(t, sse.Event{Type: fanout.ResyncEvent, Data: "unavailable"}, st.waitN(t, 1)[0])
	r := h.resync(t, sub)
	assert.ErrorIs(t, r.err, errSSEStoreDown)
	assert.NotErrorIs(t, r.err, fanout.ErrUnknownID)
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("live"))))
	assert.Equal(t, "live", st.waitN(t, 2)[1].Data, "the stream goes on live")
}

var errSSEStoreDown = errors.New("store down")

// sseFailingStore is an application's ReplayStore whose Read fails.
type sseFailingStore struct{ *fanout.Ring }

func (sseFailingStore) Read(context.Context, fanout.Position, []string) ([]*fanout.Message, fanout.Position, error) {
	return nil, fanout.Position{}, errSSEStoreDown
}

// sseUnwrapWriter is middleware's ResponseWriter: it does not flush, but
// hands out the writer it wraps.
type sseUnwrapWriter struct{ http.ResponseWriter }

func (w sseUnwrapWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sseOpaqueWriter hides the writer it wraps: no Flush, no Unwrap.
type sseOpaqueWriter struct{ http.ResponseWriter }

func TestBroker_ResponseWriterWrappers(t *testing.T) {
	t.Parallel()
	var opts fanout.BrokerOptions
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	mux := http.NewServeMux()
	mux.Handle("/wrapped", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.ServeHTTP(sseUnwrapWriter{w}, r)
	}))
	mux.Handle("/opaque", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.ServeHTTP(sseOpaqueWriter{w}, r)
	}))
	mux.Handle("/", b)
	s := sseServe(t, b, mux, false)

	resp := sseGet(t, s.srv.URL+"/opaque?topic=t", nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Zero(t, b.Len(), "no subscriber for a response that cannot stream")

	st := sseOpen(t, s.srv.URL+"/wrapped?topic=t", nil)
	h.sub(t)
	require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("through middleware"))))
	assert.Equal(t, []string{"through middleware"}, sseData(st.waitN(t, 1)))

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(method, s.url("topic=t"), strings.NewReader("x"))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, method)
		assert.Equal(t, http.MethodGet, resp.Header.Get("Allow"), method)
	}
	assert.Equal(t, 1, b.Len())
	assert.Empty(t, h.connected, "OnConnect only for the streaming client")
}

func TestBroker_Authorize(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Authorize: func(r *http.Request) (fanout.Grant, error) {
		q := r.URL.Query()
		switch q.Get("as") {
		case "anon":
			return fanout.Grant{}, fmt.Errorf("no token: %w", fanout.ErrUnauthorized)
		case "guest":
			return fanout.Grant{}, fanout.ErrForbidden
		case "broken":
			return fanout.Grant{}, errors.New("session store down")
		}
		if q.Get("topic") != "news" {
			return fanout.Grant{}, fmt.Errorf("topic %q: %w", q.Get("topic"), fanout.ErrInvalidTopic)
		}
		return fanout.Grant{Topics: []string{"news"}}, nil
	}}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	good := sseOpen(t, s.url("as=user&topic=news"), nil)
	h.sub(t)
	require.NoError(t, s.broker.Publish(sseCtx, "news", fanout.NewMessage([]byte("before"))))

	for _, tc := range []struct {
		name, query string
		want        int
	}{
		{"unauthorized", "as=anon&topic=news", http.StatusUnauthorized},
		{"forbidden", "as=guest&topic=news", http.StatusForbidden},
		{"other error", "as=broken&topic=news", http.StatusInternalServerError},
		{"unknown topic", "as=user&topic=secret", http.StatusBadRequest},
		{"no topic", "as=user", http.StatusBadRequest},
	} {
		resp := sseGet(t, s.url(tc.query), nil)
		_ = resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, tc.name)
		assert.Equal(t, 1, s.broker.Len(), tc.name)
	}
	require.NoError(t, s.broker.Publish(sseCtx, "news", fanout.NewMessage([]byte("after"))))
	assert.Equal(t, []string{"before", "after"}, sseData(good.waitN(t, 2)))
	assert.Empty(t, h.connected, "refused requests never connect")

	// Without Authorize, an empty topic is refused too.
	plain := newSSEServer(t, nil)
	resp := sseGet(t, plain.url("topic="), nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
