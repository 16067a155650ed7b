package fanoutprom_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/examples/chat/room"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
)

// chatWithMetrics is the chat demo's handler with its metrics at
// /metrics: what the demo's command serves once it can require this
// module.
func chatWithMetrics(logger *log.Logger) (*room.Server, http.Handler) {
	obs := fanoutprom.NewObserver(nil)
	chat := room.New(&room.Options{Observer: obs, Logger: logger})
	reg := prometheus.NewRegistry()
	reg.MustRegister(fanoutprom.NewCollector(chat.Hub(), obs))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", chat)
	return chat, mux
}

// The chat demo with /metrics: a WebSocket tab, an EventSource tab and
// one that resumes from an ID the Ring never held, then a burst. Scraped
// while live, the subscribers by transport and what was published; after
// Shutdown, every counter equals the room Hub's Stats and every histogram
// counts its batches.
func TestChat_Metrics(t *testing.T) {
	t.Parallel()
	const n = 100
	chat, h := chatWithMetrics(log.New(io.Discard, "", 0))
	t.Cleanup(func() { _ = chat.Close() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	ws := dialWS(t, srv.URL+"/ws?topic=lobby")
	es := openSSE(t, srv.URL+"/events?topic=lobby", "")
	resumer := openSSE(t, srv.URL+"/events?topic=lobby", "nosuch-1")
	assert.Equal(t, fanout.ResyncEvent, resumer.next(t).event)

	resp, err := http.Post(srv.URL+"/burst?topic=lobby&n="+fmt.Sprint(n), "", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for i := 1; i <= n; i++ {
		want := fmt.Sprintf("burst #1: message %d of %d", i, n)
		require.Equal(t, want, ws.next(t))
		require.Equal(t, want, es.next(t).data)
		require.Equal(t, want, resumer.next(t).data)
	}

	live := scrape(t, srv.URL+"/metrics")
	for transport, want := range map[string]float64{"websocket": 1, "sse": 2} {
		v, ok := live.value("fanout_subscribers", "transport", transport)
		assert.True(t, ok)
		assert.Equal(t, want, v, "live %s subscribers", transport)
	}
	v, _ := live.value("fanout_messages_published_total")
	assert.Equal(t, float64(n), v)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, chat.Shutdown(ctx))
	st := chat.Hub().Stats()
	final := scrape(t, srv.URL+"/metrics")
	assertMatchesStats(t, final, st, true)
	assert.Equal(t, uint64(3*n), st.Delivered)
	assertResyncs(t, final, map[string]float64{"unknown": 1})
	assertSlowEvents(t, final, nil)
}
