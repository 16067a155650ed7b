package fanout_test

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// loggingWriter is the middleware a new user writes first: it records the
// status, and has neither Unwrap nor Hijack, so the connection cannot be
// taken over through it.
type loggingWriter struct {
	http.ResponseWriter
	status int
}

func (w *loggingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// unwrappingWriter is the same with Unwrap, as http.ResponseController
// expects of middleware.
type unwrappingWriter struct{ loggingWriter }

func (w *unwrappingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hijackingWriter hides the writer it wraps but hijacks through it.
type hijackingWriter struct{ loggingWriter }

func (w *hijackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestHub_BehindMiddleware: behind middleware through which the connection
// cannot be taken over, the Hub refuses the handshake with 501 Not
// Implemented and logs why, as coder/websocket does, before anything is
// subscribed (before, it answered 101 and hung); through middleware that
// has Unwrap (or Hijack) it serves as usual.
func TestHub_BehindMiddleware(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	var connects atomic.Int32
	hub := fanout.NewHub(&fanout.HubOptions{
		OnConnect:       func(*fanout.Subscriber) { connects.Add(1) },
		PingInterval:    -1,
		DeliveryOptions: fanout.DeliveryOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))},
	})
	mux := http.NewServeMux()
	mux.Handle("/opaque", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(&loggingWriter{ResponseWriter: w}, r)
	}))
	mux.Handle("/unwrap", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(&unwrappingWriter{loggingWriter{ResponseWriter: w}}, r)
	}))
	mux.Handle("/hijack", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(&hijackingWriter{loggingWriter{ResponseWriter: w}}, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	resp := dialStatus(t, base+"/opaque?topic=t", nil)
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	assert.Contains(t, log.String(), "cannot take over the connection", "the reason is logged")
	assert.Zero(t, hub.Len())
	assert.Zero(t, connects.Load())

	for _, path := range []string{"/unwrap", "/hijack"} {
		col := collectCoder(t, dialCoder(t, base+path+"?topic="+path, nil))
		eventually(t, func() bool { return hub.NumSubscribers(path) == 1 }, waitTimeout, "%s subscribed", path)
		require.NoError(t, hub.Publish(context.Background(), path, fanout.NewMessage([]byte("via "+path))))
		assert.Equal(t, []string{"via " + path}, texts(col.waitN(t, 1)), path)
	}
	assert.EqualValues(t, 2, connects.Load())
}
