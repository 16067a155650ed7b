package fanout_test

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// The Broker's streams over HTTP/1 with BrokerOptions.ThroughResponseWriter:
// what the connections it takes over do (heartbeats, resume, Close
// interrupting a stalled write), they do through the ResponseWriter.

// Heartbeats go through the ResponseWriter, and through a compressor in
// it, as whole comments between whole events.
func TestBroker_ThroughResponseWriter_Heartbeat(t *testing.T) {
	t.Parallel()
	for _, compressed := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "gzip"}[compressed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{ThroughResponseWriter: true, Heartbeat: 20 * time.Millisecond}
			b := fanout.NewBroker(&opts)
			rec := newRecorder()
			gz := &gzipMiddleware{served: make(chan *gzipWriter, 1)}
			s := sseServe(t, b, rec.wrap(gz.wrap(b)), false)
			h := http.Header{}
			if compressed {
				h.Set("Accept-Encoding", "gzip")
			}
			tr := &http.Transport{DisableCompression: true}
			t.Cleanup(tr.CloseIdleConnections)
			resp := sseDo(t, &http.Client{Transport: tr}, s.url("topic=t"), h)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			if compressed {
				require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
				zr, err := gzip.NewReader(resp.Body)
				require.NoError(t, err)
				resp.Body = struct {
					io.Reader
					io.Closer
				}{zr, resp.Body}
			}
			raw := sseReadRaw(t, resp)
			assert.True(t, strings.HasPrefix(raw.waitFor(t, ": keepalive\n\n"), ": keepalive\n\n"),
				"an idle stream gets only heartbeats")
			require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("x"))))
			got := raw.waitFor(t, "data: x\n\n")
			assert.Equal(t, "data: x\n\n", strings.ReplaceAll(got, ": keepalive\n\n", ""),
				"heartbeats are whole comments between whole events")
			w := rec.next(t)
			assert.True(t, isOpen(w.returned), "the handler runs as long as the stream")
		})
	}
}

// A closed subscriber's response ends; go-sse's Connection comes back with
// Last-Event-ID and, with a Ring, misses nothing.
func TestBroker_ThroughResponseWriter_Resumes(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{ThroughResponseWriter: true, Replay: fanout.NewRing(nil), Heartbeat: -1}
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	rec := newRecorder()
	s := sseServe(t, b, rec.wrap(b), false)
	c := sseConnect(t, s.url("topic=t"))
	first := h.sub(t)
	w := rec.next(t)
	require.NoError(t, b.Publish(sseCtx, "t", num(0)))
	c.waitN(t, 1)
	require.NoError(t, first.Close())
	closedWithin(t, w.returned, "the first request's handler's return")
	for i := 1; i < 5; i++ {
		require.NoError(t, b.Publish(sseCtx, "t", num(i)))
	}
	second := h.sub(t) // it came back
	assert.NotEmpty(t, second.Request().Header.Get("Last-Event-ID"), "go-sse resumes with Last-Event-ID")
	require.NoError(t, b.Publish(sseCtx, "t", num(5)))
	assert.Equal(t, nums(0, 6), sseData(c.waitN(t, 6)), "no gap, no duplicate")
	assert.Empty(t, h.resyncOf(second))
	assert.EqualValues(t, http.StatusOK, w.status.Load())
}

// Close interrupts a write stalled in a client that does not read: through
// the ResponseWriter, by moving the connection's write deadline (reached
// through Unwrap).
func TestBroker_ThroughResponseWriter_CloseInterruptsStalledWrite(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{ThroughResponseWriter: true, Heartbeat: -1,
		DeliveryOptions: fanout.DeliveryOptions{WriteTimeout: -1}}
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	rec := newRecorder()
	s := sseServe(t, b, rec.wrap(b), false)
	sseStall(t, s, "topic=t")
	sub := h.sub(t)
	w := rec.next(t)

	big := fanout.NewMessage([]byte(strings.Repeat("y", 128<<10)))
	eventually(t, func() bool {
		require.NoError(t, b.Publish(sseCtx, "t", big))
		return sub.QueueLen() >= 8
	}, waitTimeout, "a stalled writer")

	closed := make(chan struct{})
	go func() {
		_ = b.Close()
		close(closed)
	}()
	closedWithin(t, closed, "Close's return")
	closedWithin(t, sub.Done(), "the stalled subscription's end")
	closedWithin(t, w.returned, "the handler's return")
	assert.Equal(t, 1, h.disconnects(sub))
	assert.Zero(t, b.Stats().Subscribers)
}

// The stream must be flushed through the ResponseWriter: behind middleware
// that can hijack but not flush (nor Unwrap), the default takes the
// connection over, and ThroughResponseWriter refuses with 500 and logs
// why, before subscribing anything.
func TestBroker_ThroughResponseWriter_NeedsFlush(t *testing.T) {
	t.Parallel()
	for _, through := range []bool{false, true} {
		name := map[bool]string{false: "default", true: "ThroughResponseWriter"}[through]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var log syncBuffer
			opts := fanout.BrokerOptions{ThroughResponseWriter: through, Heartbeat: -1,
				DeliveryOptions: fanout.DeliveryOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))}}
			b := fanout.NewBroker(&opts)
			s := sseServe(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b.ServeHTTP(&hijackingWriter{loggingWriter{ResponseWriter: w}}, r)
			}), false)
			resp := sseGet(t, s.url("topic=t"), nil)
			if !through {
				require.Equal(t, http.StatusOK, resp.StatusCode)
				st := sseRead(t, resp)
				eventually(t, func() bool { return b.Len() == 1 }, waitTimeout, "subscribed")
				require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("taken over"))))
				assert.Equal(t, []string{"taken over"}, sseData(st.waitN(t, 1)))
				return
			}
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			assert.Contains(t, log.String(), "cannot stream", "the reason is logged")
			assert.Zero(t, b.Len())
			assert.Zero(t, b.Stats().Subscribers)
		})
	}
}
