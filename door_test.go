package fanout_test

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
	srv := serveBoth(t, hub, broker)

	resp := sseGet(t, srv.URL+"/sse?topic=private", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an SSE request without the token")
	ws := dialStatus(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=private", nil)
	assert.Equal(t, http.StatusUnauthorized, ws.StatusCode, "a WebSocket request without the token")
	assert.Zero(t, hub.NumSubscribers("private"))

	st := sseOpen(t, srv.URL+"/sse?topic=private", http.Header{"Authorization": {"Bearer secret"}})
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

// TestBroker_AttachedRefusesHubOptions: a Broker attached to a Hub has the
// Hub's core, so each option the Hub owns (its DeliveryOptions, Limits,
// Replay and Engine), set on the Broker too, would be ignored: NewBroker
// panics instead, naming each one, before anything is started or handed
// over. What the Broker may set of its own does not panic.
func TestBroker_AttachedRefusesHubOptions(t *testing.T) {
	t.Parallel()
	hub := fanout.NewHub(nil)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	refused := []struct {
		name string
		opts fanout.BrokerOptions
		want string
	}{
		{"Replay", fanout.BrokerOptions{Replay: fanout.NewRing(nil)}, "Replay"},
		{"Engine", fanout.BrokerOptions{Engine: fanout.NewLocalEngine(nil)}, "Engine"},
		{"Limits", fanout.BrokerOptions{Limits: fanout.Limits{MaxSubscribers: 1}}, "Limits"},
		{"QueueSize", fanout.BrokerOptions{DeliveryOptions: fanout.DeliveryOptions{QueueSize: 8}}, "DeliveryOptions.QueueSize"},
		{"Policy", fanout.BrokerOptions{DeliveryOptions: fanout.DeliveryOptions{Policy: fanout.PolicyDrop}}, "DeliveryOptions.Policy"},
		{"Logger", fanout.BrokerOptions{DeliveryOptions: fanout.DeliveryOptions{Logger: slog.Default()}}, "DeliveryOptions.Logger"},
		{"two", fanout.BrokerOptions{Replay: fanout.NewRing(nil), DeliveryOptions: fanout.DeliveryOptions{WriteTimeout: time.Second}}, "DeliveryOptions.WriteTimeout, Replay"},
	}
	for _, c := range refused {
		opts := c.opts
		opts.Hub = hub
		assert.PanicsWithValue(t, "fanout: NewBroker: with Hub set, BrokerOptions must not set "+c.want+
			": an attached Broker has the Hub's (see BrokerOptions.Hub)", func() { fanout.NewBroker(&opts) }, c.name)
	}

	own := fanout.BrokerOptions{
		Hub:                   hub,
		Authorize:             tokenAuthorize,
		OnConnect:             func(*fanout.Subscriber) {},
		OnDisconnect:          func(*fanout.Subscriber, error) {},
		OnResync:              func(*fanout.Subscriber, string, error) {},
		OnJoin:                func(*fanout.Subscriber, string) {},
		OnLeave:               func(*fanout.Subscriber, string) {},
		SendBufferSize:        64 << 10,
		ForgetRequest:         true,
		Heartbeat:             time.Second,
		Retry:                 time.Second,
		ThroughResponseWriter: true,
	}
	assert.NotPanics(t, func() { fanout.NewBroker(&own) }, "the Broker's own options")
}
