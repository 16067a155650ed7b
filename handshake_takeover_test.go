package fanout_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// readBody returns resp's body as a string.
func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestCannotTakeOver_SaysWhy: behind middleware that has neither Hijack
// nor Unwrap (nor Flush), the Hub's 501 and the Broker's 500 say why in
// their body, and, with no Logger set, the reason goes to slog's default
// logger. Not parallel: it replaces slog's default logger.
func TestCannotTakeOver_SaysWhy(t *testing.T) {
	var log syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&log, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	hub := fanout.NewHub(&fanout.HubOptions{PingInterval: -1})
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	broker := fanout.NewBroker(&fanout.BrokerOptions{Heartbeat: -1})
	t.Cleanup(func() { require.NoError(t, broker.Close()) })
	mux := http.NewServeMux()
	mux.Handle("/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeHTTP(&loggingWriter{ResponseWriter: w}, r)
	}))
	mux.Handle("/events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		broker.ServeHTTP(sseOpaqueWriter{w}, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp := dialStatus(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=t", nil)
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	assert.Contains(t, readBody(t, resp),
		"fanout: cannot take over the connection: the ResponseWriter (type *fanout_test.loggingWriter) has neither Hijack nor Unwrap")
	assert.Contains(t, log.String(), "cannot take over the connection", "logged through slog.Default")

	resp = sseGet(t, srv.URL+"/events?topic=t", nil)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Contains(t, readBody(t, resp),
		"fanout: cannot stream: the ResponseWriter (type fanout_test.sseOpaqueWriter) has neither Flush, Hijack nor Unwrap")
	assert.Contains(t, log.String(), "cannot stream", "logged through slog.Default")
	assert.Zero(t, hub.Len())
	assert.Zero(t, broker.Len())
}
