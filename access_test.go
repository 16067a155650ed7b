package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// doors is a Hub at /ws and a Broker attached to it at /sse, on one
// loopback server.
type doors struct {
	hub    *fanout.Hub
	broker *fanout.Broker
	srv    *httptest.Server
}

func newDoors(t *testing.T, ho *fanout.HubOptions, bo *fanout.BrokerOptions) *doors {
	t.Helper()
	if bo == nil {
		bo = &fanout.BrokerOptions{}
	}
	d := &doors{hub: fanout.NewHub(ho)}
	bo.Hub = d.hub
	d.broker = fanout.NewBroker(bo)
	d.srv = serveBoth(t, d.hub, d.broker)
	return d
}

func (d *doors) ws(query string) string {
	return "ws" + strings.TrimPrefix(d.srv.URL, "http") + "/ws?" + query
}

func (d *doors) sse(query string) string { return d.srv.URL + "/sse?" + query }

// user is an application's identity for a subscriber.
type user struct{ name string }

// Authorize attaches an identity and a group; every hook, a filter and a
// Send path read them back from the Subscriber, typed, on both transports.
func TestAuthorize_Identity(t *testing.T) {
	t.Parallel()
	type seen struct{ hook, name, group string }
	var mu sync.Mutex
	var got []seen
	record := func(hook string, s *fanout.Subscriber) {
		u, ok := fanout.IdentityOf[*user](s)
		require.True(t, ok, "%s: identity of type *user", hook)
		mu.Lock()
		got = append(got, seen{hook, u.name, s.Group()})
		mu.Unlock()
	}
	authorize := func(r *http.Request) (fanout.Grant, error) {
		name := r.URL.Query().Get("user")
		if name == "" {
			return fanout.Grant{}, fanout.ErrUnauthorized
		}
		return fanout.Grant{Topics: []string{"room"}, Identity: &user{name}, Group: "g-" + name}, nil
	}
	messages := make(chan string, 1)
	disconnected := make(chan string, 2)
	connected := make(chan *fanout.Subscriber, 2)
	d := newDoors(t, &fanout.HubOptions{
		Authorize: authorize,
		OnConnect: func(s *fanout.Subscriber) { record("connect", s); connected <- s },
		OnMessage: func(_ context.Context, s *fanout.Subscriber, m *fanout.Message) {
			record("message", s)
			messages <- string(m.Data())
		},
		OnDisconnect: func(s *fanout.Subscriber, _ error) { record("disconnect", s); disconnected <- "ws" },
	}, &fanout.BrokerOptions{
		Authorize:    authorize,
		OnConnect:    func(s *fanout.Subscriber) { record("connect", s); connected <- s },
		OnDisconnect: func(s *fanout.Subscriber, _ error) { record("disconnect", s); disconnected <- "sse" },
	})

	ws := dialCoder(t, d.ws("user=ann"), nil)
	wsCol := collectCoder(t, ws)
	recv(t, connected, "ws subscriber")
	sse := sseOpen(t, d.sse("user=bob"), nil)
	recv(t, connected, "sse subscriber")

	require.NoError(t, ws.Write(context.Background(), websocket.MessageText, []byte("hi")))
	assert.Equal(t, "hi", recv(t, messages, "OnMessage"))
	onlyAnn := func(s *fanout.Subscriber) bool {
		u, _ := fanout.IdentityOf[*user](s)
		return u != nil && u.name == "ann"
	}
	require.NoError(t, d.hub.BroadcastFilter(context.Background(), fanout.NewMessage([]byte("for ann")), onlyAnn))
	for _, s := range d.hub.TopicSubscribers("room") {
		if u, _ := fanout.IdentityOf[*user](s); u.name == "bob" {
			require.NoError(t, s.Send(fanout.NewMessage([]byte("for bob"))))
		}
	}
	assert.Equal(t, []string{"for ann"}, texts(wsCol.waitN(t, 1)))
	assert.Equal(t, []string{"for bob"}, sseData(sse.waitN(t, 1)))

	_, ok := fanout.IdentityOf[string](d.hub.TopicSubscribers("room")[0])
	assert.False(t, ok, "not a string")
	require.NoError(t, d.hub.Close())
	recv(t, disconnected, "first OnDisconnect")
	recv(t, disconnected, "second OnDisconnect")
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, []seen{
		{"connect", "ann", "g-ann"}, {"connect", "bob", "g-bob"}, {"message", "ann", "g-ann"},
		{"disconnect", "ann", "g-ann"}, {"disconnect", "bob", "g-bob"},
	}, got)
}

// A Refusal answers with its own status, headers and body, on both doors,
// before any upgrade; 204 (which tells an EventSource not to come back)
// carries no body.
func TestAuthorize_Refusal(t *testing.T) {
	t.Parallel()
	authorize := func(r *http.Request) (fanout.Grant, error) {
		switch r.URL.Query().Get("as") {
		case "busy":
			return fanout.Grant{}, &fanout.Refusal{Status: http.StatusTooManyRequests,
				Header: http.Header{"Retry-After": {"7"}}, Body: "too many connections", Err: errors.New("user limit")}
		case "banned":
			return fanout.Grant{}, fmt.Errorf("banned: %w", &fanout.Refusal{Status: http.StatusNoContent})
		case "default":
			return fanout.Grant{}, &fanout.Refusal{}
		}
		return fanout.Grant{Topics: []string{"t"}}, nil
	}
	d := newDoors(t, &fanout.HubOptions{Authorize: authorize}, &fanout.BrokerOptions{Authorize: authorize})
	for _, tc := range []struct {
		as, body string
		status   int
		header   string
	}{
		{"busy", "too many connections\n", http.StatusTooManyRequests, "7"},
		{"banned", "", http.StatusNoContent, ""},
		{"default", "Forbidden\n", http.StatusForbidden, ""},
	} {
		for _, door := range []string{"ws", "sse"} {
			t.Run(tc.as+"/"+door, func(t *testing.T) {
				var resp *http.Response
				if door == "ws" {
					resp = dialStatus(t, d.ws("as="+tc.as), nil)
				} else {
					resp = sseGet(t, d.sse("as="+tc.as), nil)
				}
				body, _ := io.ReadAll(resp.Body)
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Equal(t, tc.header, resp.Header.Get("Retry-After"))
				if door == "sse" || tc.status != http.StatusNoContent {
					assert.Equal(t, tc.body, string(body))
				}
			})
		}
	}
	assert.Zero(t, d.hub.Len())
}

// Limits: one subscriber over MaxSubscribers is refused with 503 and
// Retry-After, one over MaxPerGroup with 429, before the upgrade; WebSocket
// and SSE subscribers of a Hub and its attached Broker count together, and
// room is made again when one leaves. Register fails with
// ErrTooManySubscribers.
func TestLimits_Subscribers(t *testing.T) {
	t.Parallel()
	authorize := func(r *http.Request) (fanout.Grant, error) {
		return fanout.Grant{Topics: []string{"t"}, Group: r.URL.Query().Get("user")}, nil
	}
	connected := make(chan *fanout.Subscriber, 8)
	onConnect := func(s *fanout.Subscriber) { connected <- s }
	d := newDoors(t, &fanout.HubOptions{
		Authorize: authorize,
		OnConnect: onConnect,
		Limits:    fanout.Limits{MaxSubscribers: 3, MaxPerGroup: 2},
	}, &fanout.BrokerOptions{Authorize: authorize, OnConnect: onConnect})

	dialCoder(t, d.ws("user=ann"), nil)
	recv(t, connected, "ann's first")
	sseOpen(t, d.sse("user=ann"), nil)
	recv(t, connected, "ann's second")

	resp := dialStatus(t, d.ws("user=ann"), nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "ann's third: over MaxPerGroup")
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	resp = sseGet(t, d.sse("user=ann"), nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "over MaxPerGroup on SSE too")

	bob := dialCoder(t, d.ws("user=bob"), nil)
	bobSub := recv(t, connected, "bob")
	resp = dialStatus(t, d.ws("user=cy"), nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "over MaxSubscribers")
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))

	ctx := context.Background()
	_, reg, err := websocket.Dial(ctx, d.ws("user=dee"), nil)
	if err == nil || reg == nil {
		t.Fatal("the Hub admitted a fourth subscriber")
	}
	require.NoError(t, bob.Close(websocket.StatusNormalClosure, ""))
	closedWithin(t, bobSub.Done(), "bob's end")
	dialCoder(t, d.ws("user=cy"), nil)
	recv(t, connected, "cy, once bob left")
	assert.Equal(t, 3, d.hub.Len())

	// Register counts too.
	regSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, err = d.hub.Register(r.Context(), conn, fanout.Grant{Topics: []string{"t"}})
		assert.ErrorIs(t, err, fanout.ErrTooManySubscribers)
		_ = conn.CloseNow()
	}))
	t.Cleanup(regSrv.Close)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(regSrv.URL, "http"), nil)
	require.NoError(t, err)
	_, _, err = c.Read(ctx)
	assert.Error(t, err, "the registering handler closed it")
}

// MessageRate: messages over the rate are dropped and counted (RateDrop)
// or close the client with 1008 (RateClose); either way the others are
// not affected.
func TestLimits_MessageRate(t *testing.T) {
	t.Parallel()
	for _, policy := range []fanout.RatePolicy{fanout.RateDrop, fanout.RateClose} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 16)
			disconnected := make(chan error, 4)
			s := newServer(t, &fanout.HubOptions{
				// One message per 1000 seconds, bursts of 2: the third of
				// a quick run is over the rate whatever the machine's speed.
				Limits:       fanout.Limits{MessageRate: 0.001, MessageBurst: 2, OverRate: policy},
				OnMessage:    func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
				OnDisconnect: func(_ *fanout.Subscriber, err error) { disconnected <- err },
				PingInterval: -1,
			})
			fast := dialCoder(t, s.url("topic=t"), nil)
			fastCol := collectCoder(t, fast)
			other := dialCoder(t, s.url("topic=t"), nil)
			otherCol := collectCoder(t, other)
			eventually(t, func() bool { return s.hub.Len() == 2 }, waitTimeout, "two subscribers")
			ctx := context.Background()
			for i := range 5 {
				if err := fast.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "m%d", i)); err != nil {
					break // closed by RateClose
				}
			}
			assert.Equal(t, "m0", recv(t, got, "first message"))
			assert.Equal(t, "m1", recv(t, got, "second message"))
			if policy == fanout.RateClose {
				assert.Equal(t, int(websocket.StatusPolicyViolation), closeStatus(fastCol.closeErr(t)))
				assert.ErrorIs(t, recv(t, disconnected, "OnDisconnect"), fanout.ErrRateLimited)
			} else {
				eventually(t, func() bool { return s.hub.Stats().InboundDropped == 3 }, waitTimeout, "3 dropped")
				require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("still here"))))
				assert.Equal(t, []string{"still here"}, texts(fastCol.waitN(t, 1)), "the connection stays")
			}
			assert.Len(t, got, 0, "nothing over the rate reached OnMessage")
			require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("to all"))))
			eventually(t, func() bool {
				got := texts(otherCol.snapshot())
				return len(got) > 0 && got[len(got)-1] == "to all"
			}, waitTimeout, "another client is not affected")
		})
	}
}
