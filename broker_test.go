package fanout_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

var sseCtx = context.Background()

func TestBroker_HeadersBeforeFirstEvent(t *testing.T) {
	t.Parallel()
	s := newSSEServer(t, nil)
	// Do returns once the headers arrive: with nothing published, they
	// must have been flushed on their own.
	resp := sseGet(t, s.url("topic=t"), nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	assert.Zero(t, s.broker.Stats().Published)
	require.Equal(t, 1, s.broker.NumSubscribers("t"), "subscribed once the headers are out")

	st := sseRead(t, resp)
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("first"))))
	assert.Equal(t, []string{"first"}, sseData(st.waitN(t, 1)))
}

func TestBroker_Topics(t *testing.T) {
	t.Parallel()
	var opts fanout.BrokerOptions
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	a := sseOpen(t, s.url("topic=a"), nil)
	subA := h.sub(t)
	b := sseOpen(t, s.url("topic=b"), nil)
	subB := h.sub(t)
	ab := sseOpen(t, s.url("topic=a&topic=b"), nil)
	subAB := h.sub(t)
	assert.Equal(t, 3, s.broker.Len())
	assert.Equal(t, 2, s.broker.NumSubscribers("a"))
	assert.Equal(t, 2, s.broker.NumSubscribers("b"))
	assert.ElementsMatch(t, []string{"a", "b"}, subAB.Topics())
	assert.ElementsMatch(t, []*fanout.Subscriber{subA, subB, subAB}, s.broker.Subscribers())

	pub := func(topic, data string) {
		t.Helper()
		require.NoError(t, s.broker.Publish(sseCtx, topic, fanout.NewMessage([]byte(data))))
	}
	pub("a", "a1")
	pub("b", "b1")
	pub("nobody", "lost")
	require.NoError(t, s.broker.Broadcast(sseCtx, fanout.NewMessage([]byte("all"))))
	require.NoError(t, s.broker.BroadcastFilter(sseCtx, fanout.NewMessage([]byte("only-a")),
		func(s *fanout.Subscriber) bool { return s == subA }))
	require.NoError(t, subB.Send(fanout.NewMessage([]byte("to-b"))))
	require.NoError(t, subB.Subscribe(context.Background(), "a"))
	subAB.Unsubscribe("a")
	assert.Equal(t, []string{"b"}, subAB.Topics())
	pub("a", "a2")
	require.NoError(t, s.broker.Broadcast(sseCtx, fanout.NewMessage([]byte("end"))))

	assert.Equal(t, []string{"a1", "all", "only-a", "a2", "end"}, sseData(a.waitN(t, 5)))
	assert.Equal(t, []string{"b1", "all", "to-b", "a2", "end"}, sseData(b.waitN(t, 5)))
	assert.Equal(t, []string{"a1", "b1", "all", "end"}, sseData(ab.waitN(t, 4)))
	eventually(t, func() bool { return s.broker.Stats().Delivered == 14 }, waitTimeout, "14 deliveries")
	st := s.broker.Stats()
	assert.Equal(t, 3, st.Subscribers)
	assert.EqualValues(t, 7, st.Published, "Send is not a publish")
}

func TestBroker_EventFields(t *testing.T) {
	t.Parallel()
	s := newSSEServer(t, nil)
	st := sseOpen(t, s.url("topic=t"), nil)
	bin := []byte{0, 1, 2, 0xfe, 0xff, '\n', '\r', 'x'}
	msgs := []*fanout.Message{
		fanout.NewMessage([]byte("a\nb\r\nc\rd")),
		fanout.NewMessage([]byte("42")).WithEvent("answer"),
		fanout.NewMessage([]byte("")),
		fanout.NewMessage([]byte("line\n")),
		fanout.NewMessage([]byte("\n")),
		fanout.NewMessage([]byte("two\n\nparagraphs")),
		fanout.NewMessage([]byte("héllo 🙂")),
		fanout.NewMessage([]byte("x")).WithID("id-7"),
		fanout.NewBinaryMessage(bin).WithEvent("bin"),
		fanout.NewMessage([]byte(": not a comment")).WithID("id-8").WithEvent("e"),
	}
	for _, m := range msgs {
		require.NoError(t, s.broker.Publish(sseCtx, "t", m))
	}
	want := []sse.Event{
		{Data: "a\nb\nc\nd"},
		{Type: "answer", Data: "42"},
		{Data: ""},
		{Data: "line\n"},
		{Data: "\n"},
		{Data: "two\n\nparagraphs"},
		{Data: "héllo 🙂"},
		{LastEventID: "id-7", Data: "x"},
		{LastEventID: "id-7", Type: "bin", Data: base64.StdEncoding.EncodeToString(bin)},
		{LastEventID: "id-8", Type: "e", Data: ": not a comment"},
	}
	got := st.waitN(t, len(want))
	assert.Equal(t, want, got)
	dec, err := base64.StdEncoding.DecodeString(got[8].Data)
	require.NoError(t, err)
	assert.Equal(t, bin, dec, "binary round-trips through base64")
}

func TestBroker_Retry(t *testing.T) {
	t.Parallel()
	s := newSSEServer(t, &fanout.BrokerOptions{Retry: 1500 * time.Millisecond, Heartbeat: -1})
	resp := sseGet(t, s.url("topic=t"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw := sseReadRaw(t, resp)
	raw.waitFor(t, "\n\n")
	assert.Equal(t, "retry: 1500\n\n", raw.String(), "sent once, before any event")
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("x"))))
	assert.Equal(t, "retry: 1500\n\ndata: x\n\n", raw.waitFor(t, "data: x\n\n"))
}

func TestBroker_Heartbeat(t *testing.T) {
	t.Parallel()
	s := newSSEServer(t, &fanout.BrokerOptions{Heartbeat: 20 * time.Millisecond})
	resp := sseGet(t, s.url("topic=t"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw := sseReadRaw(t, resp)
	assert.True(t, strings.HasPrefix(raw.waitFor(t, ": keepalive\n\n"), ": keepalive\n\n"),
		"an idle stream gets only heartbeats")
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("x"))))
	got := raw.waitFor(t, "data: x\n\n")
	assert.Equal(t, "data: x\n\n", strings.ReplaceAll(got, ": keepalive\n\n", ""),
		"heartbeats are whole comments between whole events")
}

func TestBroker_Coalesces(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSECountingServer(t, &opts)
	st := sseOpen(t, s.url("topic=t"), nil)
	cc := s.nextConn(t)
	sub := h.sub(t)

	const n = 50
	entered, release := cc.hold()
	t.Cleanup(release)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(0)))
	closedWithin(t, entered, "writer inside its flush")
	before := cc.writes.Load()
	for i := 1; i < n; i++ {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	require.Equal(t, n-1, sub.QueueLen())
	release()

	assert.Equal(t, nums(0, n), sseData(st.waitN(t, n)), "every event, in order")
	eventually(t, func() bool { return s.broker.Stats().Delivered == n }, waitTimeout, "delivered")
	stats := s.broker.Stats()
	assert.EqualValues(t, 2, stats.Writes, "the held event, then all the others in one flush")
	assert.EqualValues(t, 2, stats.Batches)
	assert.LessOrEqual(t, cc.writes.Load()-before, int64(2), "socket writes for %d queued events", n-1)
}

func TestBroker_SubscriberCloseResumes(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Replay: fanout.NewRing(nil), Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	c := sseConnect(t, s.url("topic=t"))
	first := h.sub(t)
	assert.Empty(t, first.Request().Header.Get("Last-Event-ID"))

	// The publisher keeps going while the client is away (those events
	// come by replay) and after it is back (live).
	const n = 200
	closed, back := make(chan struct{}), make(chan struct{})
	published := make(chan error, 1)
	go func() {
		for i := range n {
			for _, wait := range []struct {
				at int
				ch chan struct{}
			}{{n / 2, closed}, {3 * n / 4, back}} {
				if i == wait.at {
					select {
					case <-wait.ch:
					case <-t.Context().Done():
						published <- t.Context().Err()
						return
					}
				}
			}
			if err := s.broker.Publish(sseCtx, "t", num(i)); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	c.waitN(t, n/4)
	require.NoError(t, first.Close())
	close(closed)
	closedWithin(t, first.Done(), "the closed subscription's end")
	second := h.sub(t)
	lastID := second.Request().Header.Get("Last-Event-ID")
	assert.NotEmpty(t, lastID, "go-sse resumes with Last-Event-ID")
	close(back)
	require.NoError(t, recv(t, published, "publisher's end"))
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("end"))))

	evs := c.waitN(t, n+1)
	assert.Equal(t, append(nums(0, n), "end"), sseData(evs), "no gap, no duplicate")
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev.LastEventID] = true
	}
	assert.Len(t, ids, n+1, "each event carries its own ID")
	assert.True(t, ids[lastID])
	assert.Empty(t, h.resyncOf(second))
	assert.Equal(t, 1, h.disconnects(first))
}

func TestBroker_ShutdownDrains(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSECountingServer(t, &opts)
	a := sseOpen(t, s.url("topic=t"), nil)
	cc := s.nextConn(t)
	subA := h.sub(t)
	b := sseOpen(t, s.url("topic=t"), nil)
	s.nextConn(t)
	subB := h.sub(t)

	entered, release := cc.hold()
	t.Cleanup(release)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(0)))
	closedWithin(t, entered, "A's writer inside its flush")
	for i := 1; i < 10; i++ {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	shut := make(chan error, 1)
	go func() { shut <- s.broker.Shutdown(sseCtx) }()
	none := func(*fanout.Subscriber) bool { return false }
	eventually(t, func() bool {
		return errors.Is(s.broker.BroadcastFilter(sseCtx, num(-1), none), fanout.ErrClosed)
	}, waitTimeout, "publishing refused once Shutdown begins")
	resp := sseGet(t, s.url("topic=t"), nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with A's events still queued", err)
	default:
	}

	release()
	require.NoError(t, recv(t, shut, "Shutdown's return"))
	for name, st := range map[string]*sseStream{"A": a, "B": b} {
		evs, err := st.ended(t)
		require.NoError(t, err, name)
		assert.Equal(t, nums(0, 10), sseData(evs), "%s: everything queued, then EOF", name)
	}
	closedWithin(t, subA.Done(), "A's end")
	closedWithin(t, subB.Done(), "B's end")

	assert.ErrorIs(t, s.broker.Publish(sseCtx, "t", num(10)), fanout.ErrClosed)
	resp = sseGet(t, s.url("topic=t"), nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NoError(t, s.broker.Close())
	require.NoError(t, s.broker.Close())
	require.NoError(t, s.broker.Shutdown(sseCtx))
	assert.Equal(t, 1, h.disconnects(subA))
	assert.Equal(t, 1, h.disconnects(subB))
	assert.Zero(t, s.broker.Len())
}

func TestBroker_CloseInterruptsStalledWrite(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1,
		DeliveryOptions: fanout.DeliveryOptions{WriteTimeout: -1}}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	sseStall(t, s, "topic=t")
	sub := h.sub(t)

	// Once the kernel buffers are full, the writer is stuck in a write and
	// the queue grows.
	big := fanout.NewMessage([]byte(strings.Repeat("y", 128<<10)))
	eventually(t, func() bool {
		require.NoError(t, s.broker.Publish(sseCtx, "t", big))
		return sub.QueueLen() >= 8
	}, waitTimeout, "a stalled writer")

	closed := make(chan struct{})
	go func() {
		_ = s.broker.Close()
		close(closed)
	}()
	closedWithin(t, closed, "Close's return")
	closedWithin(t, sub.Done(), "the stalled subscription's end")
	assert.Equal(t, 1, h.disconnects(sub))
	stats := s.broker.Stats()
	assert.Less(t, stats.Delivered, stats.Published, "the queue was discarded")
	assert.Zero(t, stats.Subscribers)
	assert.ErrorIs(t, s.broker.Publish(sseCtx, "t", big), fanout.ErrClosed)
}

// An idle stream has no write in progress for Close to interrupt: its
// response should end properly (the final chunk), as with Shutdown, so
// that clients see the end of the stream rather than a truncated body.
func TestBroker_CloseEndsIdleStreamCleanly(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	st := sseOpen(t, s.url("topic=t"), nil)
	sub := h.sub(t)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(0)))
	st.waitN(t, 1)
	eventually(t, func() bool { return sub.Delivered() == 1 }, waitTimeout, "delivered")

	require.NoError(t, s.broker.Close())
	evs, err := st.ended(t)
	assert.NoError(t, err, "the response is cut instead of ended")
	assert.Equal(t, []string{"0"}, sseData(evs))
	closedWithin(t, sub.Done(), "the subscription's end")
	assert.Equal(t, 1, h.disconnects(sub))
}

// Over HTTP/2 (what browsers prefer for SSE: no per-host connection
// limit), the stream flushes each event, and Close ends it cleanly.
func TestBroker_HTTP2(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	srv := serveH2(t, b, b)

	resp := sseDo(t, srv.Client(), srv.URL+"/?topic=t", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor)
	st := sseRead(t, resp)
	sub := h.sub(t)
	require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("over h2"))))
	assert.Equal(t, []string{"over h2"}, sseData(st.waitN(t, 1)))
	eventually(t, func() bool { return sub.Delivered() == 1 }, waitTimeout, "delivered")

	require.NoError(t, b.Close())
	evs, err := st.ended(t)
	assert.NoError(t, err, "the stream is reset instead of ended")
	assert.Len(t, evs, 1)
	closedWithin(t, sub.Done(), "the subscription's end")
}

func TestBroker_AttachedToHub(t *testing.T) {
	t.Parallel()
	wsConnected := make(chan *fanout.Subscriber, 4)
	hub := fanout.NewHub(&fanout.HubOptions{
		Replay:    fanout.NewRing(nil),
		OnConnect: func(s *fanout.Subscriber) { wsConnected <- s },
	})
	opts := fanout.BrokerOptions{Hub: hub}
	h := newSSEHooks(&opts)
	broker := fanout.NewBroker(&opts)
	srv := serveBoth(t, hub, broker)

	ws := dialCoder(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=room",
		&websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
	require.Equal(t, fanout.ResumeSubprotocol, ws.Subprotocol())
	recv(t, wsConnected, "WebSocket subscriber")
	st := sseOpen(t, srv.URL+"/sse?topic=room", nil)
	h.sub(t)
	assert.Equal(t, 2, hub.NumSubscribers("room"))
	assert.Equal(t, 2, broker.Stats().Subscribers)

	require.NoError(t, hub.Publish(sseCtx, "room", fanout.NewMessage([]byte("via hub"))))
	require.NoError(t, broker.Publish(sseCtx, "room", fanout.NewMessage([]byte("via broker"))))

	var recs []fanout.Record
	for len(recs) < 2 {
		ctx, cancel := context.WithTimeout(sseCtx, waitTimeout)
		_, frame, err := ws.Read(ctx)
		cancel()
		require.NoError(t, err)
		require.NoError(t, fanout.UnpackRecords(frame, func(r fanout.Record) error {
			if r.Position { // a new stream's
				return nil
			}
			r.Data = append([]byte(nil), r.Data...)
			recs = append(recs, r)
			return nil
		}))
	}
	evs := st.waitN(t, 2)
	require.Len(t, recs, 2)
	for i, want := range []string{"via hub", "via broker"} {
		assert.Equal(t, want, string(recs[i].Data))
		assert.Equal(t, want, evs[i].Data)
		assert.NotEmpty(t, recs[i].ID)
		assert.Equal(t, recs[i].ID, evs[i].LastEventID, "one ID for both transports")
	}
	eventually(t, func() bool { return hub.Stats().Delivered == 4 }, waitTimeout, "4 deliveries")
	assert.Equal(t, hub.Stats(), broker.Stats())
	assert.EqualValues(t, 2, broker.Stats().Published)

	require.NoError(t, hub.Close())
	evs, _ = st.ended(t) // cleanly or not: see TestBroker_CloseEndsIdleStreamCleanly
	assert.Len(t, evs, 2)
	assert.ErrorIs(t, broker.Publish(sseCtx, "room", fanout.NewMessage(nil)), fanout.ErrClosed)
	resp := sseGet(t, srv.URL+"/sse?topic=room", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}
