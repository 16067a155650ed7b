package fanout_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// tokenAuthorize grants the topics of ?topic= to a request that carries
// the header "Authorization: Bearer secret", and refuses others with 401.
func tokenAuthorize(r *http.Request) (fanout.Grant, error) {
	if r.Header.Get("Authorization") != "Bearer secret" {
		return fanout.Grant{}, fanout.ErrUnauthorized
	}
	return fanout.Grant{Topics: r.URL.Query()["topic"], Identity: "alice"}, nil
}

// hookLog records the calls of a Hub's hooks.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *hookLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// TestBroker_AttachedUsesHubAuthorize: a Broker attached to a Hub with
// Authorize, configured with nothing else, refuses what the Hub refuses,
// and the Hub's hooks follow its SSE subscribers.
func TestBroker_AttachedUsesHubAuthorize(t *testing.T) {
	t.Parallel()
	var log hookLog
	hub := fanout.NewHub(&fanout.HubOptions{
		Authorize: tokenAuthorize,
		OnConnect: func(s *fanout.Subscriber) { log.add("connect " + s.Transport()) },
		OnDisconnect: func(s *fanout.Subscriber, _ error) {
			log.add("disconnect " + s.Transport())
		},
		OnJoin:  func(_ *fanout.Subscriber, topic string) { log.add("join " + topic) },
		OnLeave: func(_ *fanout.Subscriber, topic string) { log.add("leave " + topic) },
	})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/events", broker)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })

	resp := sseGet(t, srv.URL+"/events?topic=private", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an SSE request without the token")
	ws := dialStatus(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=private", nil)
	assert.Equal(t, http.StatusUnauthorized, ws.StatusCode, "a WebSocket request without the token")
	assert.Zero(t, hub.NumSubscribers("private"))

	st := sseOpen(t, srv.URL+"/events?topic=private", http.Header{"Authorization": {"Bearer secret"}})
	eventually(t, func() bool { return len(log.list()) >= 2 }, waitTimeout, "the Hub's connect hooks")
	subs := hub.TopicSubscribers("private")
	require.Len(t, subs, 1)
	assert.Equal(t, "alice", subs[0].Identity(), "the Hub's Authorize granted it")
	require.NoError(t, hub.Publish(sseCtx, "private", fanout.NewMessage([]byte("hello"))))
	assert.Equal(t, []string{"hello"}, sseData(st.waitN(t, 1)))

	require.NoError(t, st.resp.Body.Close())
	closedWithin(t, subs[0].Done(), "the SSE subscription's end")
	assert.Equal(t, []string{"connect sse", "join private", "leave private", "disconnect sse"}, log.list())
}

// TestBroker_AttachedOwnAuthorize: an attached Broker's own Authorize (and
// hooks) replace the Hub's, as BrokerOptions.Authorize documents.
func TestBroker_AttachedOwnAuthorize(t *testing.T) {
	t.Parallel()
	hubConnects := make(chan *fanout.Subscriber, 4)
	hub := fanout.NewHub(&fanout.HubOptions{
		Authorize: tokenAuthorize,
		OnConnect: func(s *fanout.Subscriber) { hubConnects <- s },
	})
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	opts := fanout.BrokerOptions{Hub: hub, Authorize: func(r *http.Request) (fanout.Grant, error) {
		return fanout.Grant{Topics: []string{"public"}}, nil
	}}
	h := newSSEHooks(&opts)
	b := fanout.NewBroker(&opts)
	s := sseServe(t, b, b, false)
	st := sseOpen(t, s.srv.URL+"/", nil)
	sub := h.sub(t)
	assert.Equal(t, []string{"public"}, sub.Topics())
	assert.Empty(t, hubConnects, "the Broker's own OnConnect replaces the Hub's")
	require.NoError(t, hub.Publish(sseCtx, "public", fanout.NewMessage([]byte("hi"))))
	assert.Equal(t, []string{"hi"}, sseData(st.waitN(t, 1)))
}
