package fanout_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// presenceLog records OnConnect, OnJoin, OnLeave and OnDisconnect calls in
// order.
type presenceLog struct {
	mu     sync.Mutex
	events []string
	ended  chan struct{}
}

func (l *presenceLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *presenceLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// OnJoin and OnLeave follow a subscriber through its topics: its first
// ones after OnConnect, live Subscribe and Unsubscribe, and those it still
// has when it ends, before OnDisconnect. Presence, Topics and
// TopicSubscribers answer in between, on both transports.
func TestPresence_JoinLeave(t *testing.T) {
	t.Parallel()
	for _, door := range []string{"ws", "sse"} {
		t.Run(door, func(t *testing.T) {
			t.Parallel()
			log := &presenceLog{ended: make(chan struct{}, 1)}
			connected := make(chan *fanout.Subscriber, 1)
			authorize := func(r *http.Request) (fanout.Grant, error) {
				return fanout.Grant{Topics: []string{"a", "b"}, Group: "ann"}, nil
			}
			onConnect := func(s *fanout.Subscriber) { log.add("connect"); connected <- s }
			onJoin := func(_ *fanout.Subscriber, t string) { log.add("join " + t) }
			onLeave := func(_ *fanout.Subscriber, t string) { log.add("leave " + t) }
			onDisconnect := func(*fanout.Subscriber, error) { log.add("disconnect"); log.ended <- struct{}{} }
			d := newDoors(t, &fanout.HubOptions{Authorize: authorize, OnConnect: onConnect, OnJoin: onJoin,
				OnLeave: onLeave, OnDisconnect: onDisconnect},
				&fanout.BrokerOptions{Authorize: authorize, OnConnect: onConnect, OnJoin: onJoin,
					OnLeave: onLeave, OnDisconnect: onDisconnect})
			if door == "ws" {
				dialCoder(t, d.ws(""), nil)
			} else {
				sseOpen(t, d.sse(""), nil)
			}
			s := recv(t, connected, "subscriber")
			eventually(t, func() bool { return len(log.list()) == 3 }, waitTimeout, "joins")
			ctx := context.Background()

			members, err := d.hub.Presence(ctx, "a")
			require.NoError(t, err)
			transport := map[string]string{"ws": "websocket", "sse": "sse"}[door]
			assert.Equal(t, []fanout.Member{{Subscriber: s.ID(), Group: "ann", Transport: transport}}, members)
			require.NoError(t, s.Subscribe(ctx, "c", "a"))
			s.Unsubscribe("a", "never")
			assert.Equal(t, map[string]int{"b": 1, "c": 1}, d.broker.Topics())
			assert.Equal(t, []*fanout.Subscriber{s}, d.hub.TopicSubscribers("c"))
			members, err = d.broker.Presence(ctx, "a")
			require.NoError(t, err)
			assert.Empty(t, members)

			require.NoError(t, s.Close())
			recv(t, log.ended, "OnDisconnect")
			assert.Equal(t, []string{"connect", "join a", "join b", "join c", "leave a", "leave b", "leave c", "disconnect"},
				log.list())
			assert.Empty(t, d.hub.Topics())
		})
	}
}

// A subscriber closed by the slow-client policy, on the publisher's
// goroutine, gets its OnLeave on its own: a hook that publishes does not
// deadlock the publisher.
func TestPresence_LeaveHookMayPublish(t *testing.T) {
	t.Parallel()
	var hub *fanout.Hub
	left := make(chan string, 4)
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 1},
		OnConnect:       onConnect,
		OnLeave: func(s *fanout.Subscriber, topic string) {
			_ = hub.Publish(context.Background(), "log", fanout.NewMessage([]byte("left "+topic)))
			left <- topic
		},
		PingInterval: -1,
	})
	hub = s.hub
	st := stallOne(t, s, subs, "topic=t")
	for i := range 64 { // overflow its queue: PolicyClose, on this goroutine
		require.NoError(t, hub.Publish(context.Background(), "t", num(i)))
	}
	eventually(t, func() bool { return hub.Stats().Closed == 1 }, waitTimeout, "closed by the policy")
	st.release() // its writer returns, and announces the leave

	assert.Equal(t, "t", recv(t, left, "OnLeave"))
}

// CloseWith: a WebSocket client gets the chosen close status (one of
// ours, or the application's 4000 to 4999) and reason in its close frame,
// with the number coder/websocket names it by; an SSE client a CloseEvent
// with them, then the end of its stream.
func TestSubscriber_CloseWith(t *testing.T) {
	t.Parallel()
	connected := make(chan *fanout.Subscriber, 2)
	onConnect := func(s *fanout.Subscriber) { connected <- s }
	d := newDoors(t, &fanout.HubOptions{OnConnect: onConnect}, &fanout.BrokerOptions{OnConnect: onConnect})

	for _, c := range []struct {
		sub  string
		code fanout.StatusCode
		want websocket.StatusCode
	}{
		{"", 4001, 4001},
		{fanout.ResumeSubprotocol, 4001, 4001},
		{"", fanout.StatusPolicyViolation, websocket.StatusPolicyViolation},
		{fanout.ResumeSubprotocol, fanout.StatusTryAgainLater, websocket.StatusTryAgainLater},
	} {
		ws := dialCoder(t, d.ws("topic=t"), &websocket.DialOptions{Subprotocols: []string{c.sub}})
		col := collectCoder(t, ws)
		s := recv(t, connected, "ws subscriber")
		require.NoError(t, s.CloseWith(c.code, "signed out"))
		err := col.closeErr(t)
		assert.Equal(t, c.want, websocket.CloseStatus(err), "subprotocol %q", c.sub)
		assert.Contains(t, err.Error(), "signed out")
		assert.ErrorIs(t, s.CloseWith(4002, "again"), fanout.ErrNotSubscribed)
	}

	st := sseOpen(t, d.sse("topic=t"), nil)
	s := recv(t, connected, "sse subscriber")
	require.NoError(t, d.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("before"))))
	st.waitN(t, 1)
	require.NoError(t, s.CloseWith(fanout.StatusPolicyViolation, "bye"))
	evs, err := st.ended(t)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, fanout.CloseEvent, evs[1].Type)
	assert.Equal(t, "1008 bye", evs[1].Data)
}
