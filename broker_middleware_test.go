package fanout_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// What middleware in front of a Broker sees of an SSE stream: with
// BrokerOptions.ThroughResponseWriter, the stream as any other response
// (status, bytes, duration, compression); by default, over HTTP/1, a
// handler that returned at once, the connection having been taken over.

// recorder is the middleware a service puts in front of its handlers to
// log or trace them: it records the status, the bytes written and when the
// handler returned. Its writer implements Unwrap, as
// http.ResponseController expects of middleware, and nothing else.
type recorder struct{ served chan *recordingWriter }

func newRecorder() *recorder { return &recorder{served: make(chan *recordingWriter, 8)} }

func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recordingWriter{ResponseWriter: w, returned: make(chan struct{})}
		rec.served <- rw
		defer close(rw.returned)
		next.ServeHTTP(rw, r)
	})
}

// next returns the writer of the next request the middleware saw.
func (rec *recorder) next(t testing.TB) *recordingWriter {
	t.Helper()
	return recv(t, rec.served, "a request through the middleware")
}

type recordingWriter struct {
	http.ResponseWriter
	status   atomic.Int32 // 0 until WriteHeader or Write
	bytes    atomic.Int64
	returned chan struct{} // closed when the handler returned
}

func (w *recordingWriter) WriteHeader(code int) {
	w.status.CompareAndSwap(0, int32(code))
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.status.CompareAndSwap(0, http.StatusOK)
	n, err := w.ResponseWriter.Write(p)
	w.bytes.Add(int64(n))
	return n, err
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// gzipMiddleware compresses the responses of clients that accept gzip, as
// compression middleware does (chi's Compress, gzhttp): it decides when the
// status is written, drops Content-Length, flushes the compressor and then
// the connection on Flush, and implements Unwrap. It is written here on
// compress/gzip so that the module needs no dependency for it.
type gzipMiddleware struct{ served chan *gzipWriter }

func (g *gzipMiddleware) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			next.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w}
		g.served <- gw
		defer func() {
			if gw.gz != nil {
				_ = gw.gz.Close() // the trailer, once the handler returned
			}
		}()
		next.ServeHTTP(gw, r)
	})
}

type gzipWriter struct {
	http.ResponseWriter
	wrote   bool
	gz      *gzip.Writer // nil unless this response is compressed
	flushes atomic.Int64
}

func (w *gzipWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if code == http.StatusOK && w.Header().Get("Content-Encoding") == "" {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Add("Vary", "Accept-Encoding")
			w.Header().Del("Content-Length")
			w.gz = gzip.NewWriter(w.ResponseWriter)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.gz == nil {
		return w.ResponseWriter.Write(p)
	}
	return w.gz.Write(p)
}

func (w *gzipWriter) Flush() {
	w.flushes.Add(1)
	if w.gz != nil {
		_ = w.gz.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Through the ResponseWriter, middleware sees the stream as it is: 200,
// every byte of it, and a handler that returns when the stream ends,
// however it ends.
func TestBroker_ThroughResponseWriter_MiddlewareSeesStream(t *testing.T) {
	t.Parallel()
	ends := []struct {
		name string
		end  func(t *testing.T, b *fanout.Broker, sub *fanout.Subscriber, resp *http.Response)
	}{
		{"client goes away", func(_ *testing.T, _ *fanout.Broker, _ *fanout.Subscriber, resp *http.Response) {
			_ = resp.Body.Close()
		}},
		{"Subscriber.Close", func(t *testing.T, _ *fanout.Broker, sub *fanout.Subscriber, _ *http.Response) {
			require.NoError(t, sub.Close())
		}},
		{"Broker.Shutdown", func(t *testing.T, b *fanout.Broker, _ *fanout.Subscriber, _ *http.Response) {
			require.NoError(t, b.Shutdown(sseCtx))
		}},
		{"Broker.Close", func(t *testing.T, b *fanout.Broker, _ *fanout.Subscriber, _ *http.Response) {
			require.NoError(t, b.Close())
		}},
	}
	for _, tc := range ends {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{ThroughResponseWriter: true, Heartbeat: -1, Retry: time.Second}
			h := newSSEHooks(&opts)
			b := fanout.NewBroker(&opts)
			rec := newRecorder()
			s := sseServe(t, b, rec.wrap(b), false)
			resp := sseGet(t, s.url("topic=t"), nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, 1, resp.ProtoMajor)
			raw := sseReadRaw(t, resp)
			sub := h.sub(t)
			w := rec.next(t)

			for i := range 3 {
				require.NoError(t, b.Publish(sseCtx, "t", num(i)))
			}
			body := raw.waitFor(t, "data: 2\n\n")
			assert.Equal(t, "retry: 1000\n\ndata: 0\n\ndata: 1\n\ndata: 2\n\n", body)
			assert.True(t, isOpen(w.returned), "the handler runs as long as the stream")
			assert.EqualValues(t, http.StatusOK, w.status.Load())
			assert.EqualValues(t, len(body), w.bytes.Load(), "every byte went through the middleware")

			tc.end(t, b, sub, resp)
			closedWithin(t, w.returned, "the handler's return")
			closedWithin(t, sub.Done(), "the subscription's end")
			assert.Equal(t, 1, h.disconnects(sub), "OnDisconnect ran before the handler returned")
			assert.EqualValues(t, http.StatusOK, w.status.Load())
			assert.EqualValues(t, len(body), w.bytes.Load())
			assert.Zero(t, b.Len())
		})
	}
}

// By default, over HTTP/1, the Broker takes the connection over and writes
// the head itself: middleware sees a handler that returned right after
// subscribing, without a status (a logger records 000) or a byte, while
// the stream goes on.
func TestBroker_TakeoverHidesStreamFromMiddleware(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	rec := newRecorder()
	s := sseServe(t, b, rec.wrap(b), false)
	st := sseOpen(t, s.url("topic=t"), nil)
	sub := h.sub(t)
	w := rec.next(t)
	closedWithin(t, w.returned, "the handler's return")
	assert.Zero(t, w.status.Load(), "no status went through the middleware")
	assert.Zero(t, w.bytes.Load(), "no byte went through the middleware")

	require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("after"))))
	assert.Equal(t, []string{"after"}, sseData(st.waitN(t, 1)), "streamed after the handler returned")
	require.NoError(t, sub.Close())
	_, err := st.ended(t)
	assert.NoError(t, err)
	assert.Zero(t, w.bytes.Load())
}

// Behind gzip middleware, with ThroughResponseWriter, a client that
// accepts gzip reads a compressed stream: each batch is flushed through
// the compressor, so every event arrives, in order, as its batch leaves,
// not when the stream ends; the stream ends with the gzip trailer. By
// default the connection is taken over, the middleware never sees a
// status, and the events go out plain.
func TestBroker_Gzip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		through    bool
		compressed bool
	}{
		{"through the ResponseWriter", true, true},
		{"taken over", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{ThroughResponseWriter: tc.through, Heartbeat: -1}
			h := newSSEHooks(&opts)
			b := fanout.NewBroker(&opts)
			gz := &gzipMiddleware{served: make(chan *gzipWriter, 1)}
			s := sseServe(t, b, gz.wrap(b), true)
			tr := &http.Transport{DisableCompression: true} // the test decompresses
			t.Cleanup(tr.CloseIdleConnections)
			resp := sseDo(t, &http.Client{Transport: tr}, s.url("topic=t"), http.Header{"Accept-Encoding": {"gzip"}})
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			cc := s.nextConn(t)
			sub := h.sub(t)
			gw := recv(t, gz.served, "the request through the gzip middleware")
			if tc.compressed {
				require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
				zr, err := gzip.NewReader(resp.Body) // the header came with the response's
				require.NoError(t, err)
				resp.Body = struct {
					io.Reader
					io.Closer
				}{zr, resp.Body}
			} else {
				require.Empty(t, resp.Header.Get("Content-Encoding"))
			}
			st := sseRead(t, resp)

			// One event, alone in its batch, arrives while the stream is open.
			require.NoError(t, b.Publish(sseCtx, "t", num(0)))
			assert.Equal(t, nums(0, 1), sseData(st.waitN(t, 1)))

			// A batch: the rest queue while the writer is held in its flush.
			const n = 20
			entered, release := cc.hold()
			t.Cleanup(release)
			require.NoError(t, b.Publish(sseCtx, "t", num(1)))
			closedWithin(t, entered, "the writer inside its flush")
			for i := 2; i < n; i++ {
				require.NoError(t, b.Publish(sseCtx, "t", num(i)))
			}
			release()
			assert.Equal(t, nums(0, n), sseData(st.waitN(t, n)), "every event, in order")
			assert.True(t, isOpen(sub.Done()), "delivered while the stream is open")
			eventually(t, func() bool { return b.Stats().Delivered == n }, waitTimeout, "delivered")
			writes := b.Stats().Writes
			assert.EqualValues(t, 3, writes, "one flush per batch: 0, 1, then 2..%d", n-1)
			if tc.compressed {
				assert.EqualValues(t, 1+writes, gw.flushes.Load(), "the headers', then one per batch, through the compressor")
			} else {
				assert.Zero(t, gw.flushes.Load(), "the middleware is bypassed")
			}

			require.NoError(t, b.Shutdown(sseCtx))
			evs, err := st.ended(t)
			assert.NoError(t, err, "a clean end (with the gzip trailer, when compressed)")
			assert.Equal(t, nums(0, n), sseData(evs))
		})
	}
}

// Over HTTP/2 the stream always goes through the ResponseWriter: the option
// changes nothing there, and middleware sees the stream either way.
func TestBroker_HTTP2_MiddlewareSeesStream(t *testing.T) {
	t.Parallel()
	for _, through := range []bool{false, true} {
		name := map[bool]string{false: "default", true: "ThroughResponseWriter"}[through]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{ThroughResponseWriter: through, Heartbeat: -1}
			h := newSSEHooks(&opts)
			b := fanout.NewBroker(&opts)
			rec := newRecorder()
			srv := serveH2(t, rec.wrap(b), b)

			resp := sseDo(t, srv.Client(), srv.URL+"/?topic=t", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, 2, resp.ProtoMajor)
			st := sseRead(t, resp)
			sub := h.sub(t)
			w := rec.next(t)
			require.NoError(t, b.Publish(sseCtx, "t", fanout.NewMessage([]byte("over h2"))))
			assert.Equal(t, []string{"over h2"}, sseData(st.waitN(t, 1)))
			assert.True(t, isOpen(w.returned), "the handler runs as long as the stream")
			assert.EqualValues(t, http.StatusOK, w.status.Load())
			assert.EqualValues(t, len("data: over h2\n\n"), w.bytes.Load())

			require.NoError(t, b.Close())
			_, err := st.ended(t)
			assert.NoError(t, err, "the stream is reset instead of ended")
			closedWithin(t, w.returned, "the handler's return")
			closedWithin(t, sub.Done(), "the subscription's end")
		})
	}
}
