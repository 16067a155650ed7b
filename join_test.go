package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// topicQuery returns a query naming n topics (t0, t1, ...), each rep
// times.
func topicQuery(n, rep int) string {
	var b strings.Builder
	for i := range n {
		for range rep {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			fmt.Fprintf(&b, "topic=t%d", i)
		}
	}
	return b.String()
}

// getStatus sends a GET with header h and returns the status and body.
func getStatus(t testing.TB, url string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "" // served: its body is the WebSocket, or the stream
	}
	return resp.StatusCode, readBody(t, resp)
}

// wsHeader is a valid WebSocket handshake's header.
func wsHeader() http.Header {
	h := upgradeHeader()
	h.Del("Sec-Websocket-Protocol")
	return h
}

// TestRequestTopics_Refused: a request over Limits.MaxTopics (100 by
// default), and one whose query cannot be parsed (more than the 10,000
// parameters net/url parses, or a malformed escape), are refused with 400
// by the Hub and the Broker alike, with or without Authorize, and
// subscribe nothing: before, the second kind was served, subscribed to no
// topic at all.
func TestRequestTopics_Refused(t *testing.T) {
	t.Parallel()
	for _, authz := range []bool{false, true} {
		var opts fanout.HubOptions
		opts.PingInterval = -1
		if authz {
			opts.Authorize = func(r *http.Request) (fanout.Grant, error) {
				return fanout.Grant{Topics: r.URL.Query()["topic"]}, nil
			}
		}
		s := newServer(t, &opts)
		sse := newSSEServer(t, &fanout.BrokerOptions{Heartbeat: -1, Authorize: opts.Authorize})
		for _, tc := range []struct {
			name, query, body string
		}{
			{"101 topics", topicQuery(101, 1), "fanout: too many topics: more than 100 topics (Limits.MaxTopics)"},
			{"10,001 parameters", topicQuery(10_001, 1), "fanout: malformed query: number of URL query parameters exceeded limit"},
			{"malformed escape", "topic=a&topic=%zz", `fanout: malformed query: invalid URL escape "%zz"`},
		} {
			name := fmt.Sprintf("%s, Authorize %v", tc.name, authz)
			status, body := getStatus(t, s.srv.URL+"/?"+tc.query, wsHeader())
			assert.Equal(t, http.StatusBadRequest, status, "Hub: %s", name)
			assert.Contains(t, body, tc.body, "Hub: %s", name)
			status, body = getStatus(t, sse.url(tc.query), nil)
			assert.Equal(t, http.StatusBadRequest, status, "Broker: %s", name)
			assert.Contains(t, body, tc.body, "Broker: %s", name)
		}
		assert.Zero(t, s.hub.Len())
		assert.Zero(t, sse.broker.Len())

		// 100 topics, each named twice, are 100 topics: served.
		c := dialCoder(t, s.url(topicQuery(100, 2)), nil)
		eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "subscribed")
		assert.Len(t, s.hub.Subscribers()[0].Topics(), 100)
		require.NoError(t, s.hub.Publish(context.Background(), "t99", fanout.NewMessage([]byte("99"))))
		assert.Equal(t, []string{"99"}, texts(collectCoder(t, c).waitN(t, 1)))
	}
}

// TestSubscriber_SubscribeMaxTopics: Subscribe and Register refuse to
// take a subscriber over Limits.MaxTopics, joining nothing.
func TestSubscriber_SubscribeMaxTopics(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1, OnConnect: onConnect,
		Limits: fanout.Limits{MaxTopics: 3}})
	dialCoder(t, s.url("topic=a&topic=b"), nil)
	sub := recv(t, subs, "OnConnect")
	ctx := context.Background()

	err := sub.Subscribe(ctx, "c", "d")
	require.ErrorIs(t, err, fanout.ErrTooManyTopics)
	assert.Contains(t, err.Error(), "4 topics, more than 3")
	assert.Equal(t, []string{"a", "b"}, sub.Topics(), "nothing joined")
	require.NoError(t, sub.Subscribe(ctx, "a", "c", "c"), "a is joined already: 3 topics")
	assert.Equal(t, []string{"a", "b", "c"}, sub.Topics())
	assert.ErrorIs(t, sub.Subscribe(ctx, "d"), fanout.ErrTooManyTopics)
	sub.Unsubscribe("a")
	require.NoError(t, sub.Subscribe(ctx, "d"))
	assert.Equal(t, []string{"b", "c", "d"}, sub.Topics())

	regs := make(chan error, 1)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, err = s.hub.Register(conn.CloseRead(context.Background()), conn, fanout.Grant{Topics: []string{"w", "x", "y", "z"}})
		_ = conn.Close(websocket.StatusTryAgainLater, "refused")
		regs <- err
	}))
	t.Cleanup(reg.Close)
	dialCoder(t, "ws"+strings.TrimPrefix(reg.URL, "http"), nil)
	assert.ErrorIs(t, recv(t, regs, "Register"), fanout.ErrTooManyTopics)
}
