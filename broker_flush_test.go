package fanout_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// The Broker takes HTTP/1 connections over (Hijack) and streams on them
// itself. A ResponseWriter that cannot be hijacked but can flush (HTTP/2,
// or middleware that exposes Flush but not Unwrap) is streamed through
// net/http instead. These tests run the Broker's main paths through such a
// writer.

// sseFlushOnlyWriter can flush, but hides Hijack and Unwrap.
type sseFlushOnlyWriter struct{ w http.ResponseWriter }

func (f sseFlushOnlyWriter) Header() http.Header         { return f.w.Header() }
func (f sseFlushOnlyWriter) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f sseFlushOnlyWriter) WriteHeader(code int)        { f.w.WriteHeader(code) }
func (f sseFlushOnlyWriter) Flush()                      { _ = http.NewResponseController(f.w).Flush() }

// newSSEFlushServer serves b through sseFlushOnlyWriter.
func newSSEFlushServer(t *testing.T, opts *fanout.BrokerOptions) (*sseServer, *sseHooks) {
	t.Helper()
	if opts == nil {
		opts = &fanout.BrokerOptions{}
	}
	h := newSSEHooks(opts)
	b := fanout.NewBroker(opts)
	return sseServe(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.ServeHTTP(sseFlushOnlyWriter{w}, r)
	}), false), h
}

func TestBroker_FlushPath_StreamsAndCoalesces(t *testing.T) {
	t.Parallel()
	s, h := newSSEFlushServer(t, &fanout.BrokerOptions{Retry: 1500 * time.Millisecond})
	st := sseOpen(t, s.url("topic=t"), nil) // returns once subscribed
	sub := h.sub(t)
	assert.Equal(t, "sse", sub.Transport())
	for i := range 100 {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	evs := st.waitN(t, 100)
	assert.Equal(t, nums(0, 100), sseData(evs))
	stats := s.broker.Stats()
	assert.EqualValues(t, 100, stats.Delivered)
	assert.LessOrEqual(t, stats.Writes, stats.Delivered, "one flush per batch")
}

func TestBroker_FlushPath_Heartbeat(t *testing.T) {
	t.Parallel()
	s, _ := newSSEFlushServer(t, &fanout.BrokerOptions{Heartbeat: 20 * time.Millisecond})
	raw := sseReadRaw(t, sseGet(t, s.url("topic=t"), nil))
	raw.waitFor(t, ": keepalive\n\n")
}

// A closed subscriber's response ends; go-sse's Connection comes back with
// Last-Event-ID and, with a Ring, misses nothing.
func TestBroker_FlushPath_CloseResumes(t *testing.T) {
	t.Parallel()
	s, h := newSSEFlushServer(t, &fanout.BrokerOptions{Replay: fanout.NewRing(nil)})
	c := sseConnect(t, s.url("topic=t"))
	first := h.sub(t)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(0)))
	c.waitN(t, 1)
	require.NoError(t, first.Close())
	closedWithin(t, first.Done(), "the closed subscriber's end")
	for i := 1; i < 5; i++ {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	h.sub(t) // it came back
	var got []string
	eventually(t, func() bool {
		got = got[:0]
		for _, ev := range c.snapshot() {
			if ev.Type != fanout.PositionEvent { // skip a new stream's position
				got = append(got, ev.Data)
			}
		}
		return len(got) >= 5
	}, waitTimeout, "5 messages")
	assert.Equal(t, nums(0, 5), got, "no gap, no duplicate")
}

// Shutdown writes what is queued, then ends each response cleanly.
func TestBroker_FlushPath_ShutdownDrains(t *testing.T) {
	t.Parallel()
	s, h := newSSEFlushServer(t, nil)
	st := sseOpen(t, s.url("topic=t"), nil)
	h.sub(t)
	for i := range 10 {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	require.NoError(t, s.broker.Shutdown(sseCtx))
	evs, err := st.ended(t)
	assert.Equal(t, nums(0, 10), sseData(evs))
	assert.True(t, err == nil || err == io.EOF, "a clean end, got %v", err)
	resp := sseGet(t, s.url("topic=t"), nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, strconv.Itoa(5), resp.Header.Get("Retry-After"))
}

// An HTTP/1 stream is taken over, and its head written by the Broker: the
// headers middleware set are kept, except a Content-Encoding (the events go
// out as they are, so a client must not try to decode them).
func TestBroker_HijackedStreamKeepsHeaders(t *testing.T) {
	t.Parallel()
	var opts fanout.BrokerOptions
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	s := sseServe(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Encoding", "gzip")
		b.ServeHTTP(sseUnwrapWriter{w}, r)
	}), false)
	tr := &http.Transport{DisableCompression: true} // so Content-Encoding would show
	t.Cleanup(tr.CloseIdleConnections)
	resp := sseDo(t, &http.Client{Transport: tr}, s.url("topic=t"), nil)
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, resp.Header.Get("Content-Encoding"))
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	st := sseRead(t, resp)
	h.sub(t)
	require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("plain"))))
	assert.Equal(t, []string{"plain"}, sseData(st.waitN(t, 1)))
}
