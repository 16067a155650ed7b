package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_PublishOrder publishes many messages to a topic with several
// subscribers (both client libraries): each receives all of them, in
// publish order.
func TestHub_PublishOrder(t *testing.T) {
	t.Parallel()
	const n = 1000
	s := newServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 2 * n},
		PingInterval:    -1,
	})
	cols := []*collector{
		collectCoder(t, dialCoder(t, s.url("topic=t"), nil)),
		collectCoder(t, dialCoder(t, s.url("topic=t"), nil)),
		collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil)),
	}
	eventually(t, func() bool { return s.hub.NumSubscribers("t") == len(cols) }, waitTimeout, "subscribers registered")

	for i := range n {
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
	}
	want := nums(0, n)
	for i, c := range cols {
		assert.Equal(t, want, texts(c.waitN(t, n)), "subscriber %d", i)
	}
	st := s.hub.Stats()
	assert.Equal(t, uint64(n), st.Published)
	assert.Equal(t, uint64(n*len(cols)), st.Delivered)
	assert.Zero(t, st.Dropped)
	assert.Equal(t, len(cols), st.Subscribers)
	assert.LessOrEqual(t, st.Writes, st.Delivered)
	t.Logf("burst of %d to %d subscribers: Delivered=%d Writes=%d (%.1f messages per write)",
		n, len(cols), st.Delivered, st.Writes, float64(st.Delivered)/float64(st.Writes))
}

// TestHub_Topics checks that a subscriber receives the topics it joined
// (several through repeated ?topic=) and only those, plus broadcasts.
func TestHub_Topics(t *testing.T) {
	t.Parallel()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1})
	a := collectCoder(t, dialCoder(t, s.url("topic=a"), nil))
	b := collectGorilla(t, dialGorilla(t, s.url("topic=b"), nil))
	ab := collectCoder(t, dialCoder(t, s.url("topic=a&topic=b"), nil))
	none := collectCoder(t, dialCoder(t, s.url(""), nil))
	eventually(t, func() bool { return s.hub.Len() == 4 }, waitTimeout, "subscribers registered")
	assert.Equal(t, 2, s.hub.NumSubscribers("a"))
	assert.Equal(t, 2, s.hub.NumSubscribers("b"))
	assert.Zero(t, s.hub.NumSubscribers("c"))

	require.NoError(t, s.hub.Publish(context.Background(), "a", fanout.NewMessage([]byte("a1"))))
	require.NoError(t, s.hub.Publish(context.Background(), "b", fanout.NewMessage([]byte("b1"))))
	require.NoError(t, s.hub.Publish(context.Background(), "c", fanout.NewMessage([]byte("c1"))))
	require.NoError(t, s.hub.Publish(context.Background(), "a", fanout.NewMessage([]byte("a2"))))
	// Each subscriber gets messages in publish order, so once "end" arrives
	// anything it was going to get has arrived.
	require.NoError(t, s.hub.Broadcast(context.Background(), fanout.NewMessage([]byte("end"))))

	for _, tc := range []struct {
		name string
		col  *collector
		want []string
	}{
		{"topic a", a, []string{"a1", "a2", "end"}},
		{"topic b", b, []string{"b1", "end"}},
		{"topics a and b", ab, []string{"a1", "b1", "a2", "end"}},
		{"no topic", none, []string{"end"}},
	} {
		got := texts(tc.col.waitN(t, len(tc.want)))
		assert.Equal(t, tc.want, got, tc.name)
	}
}

// TestSubscriber_SubscribeUnsubscribe changes a subscriber's topics at run
// time.
func TestSubscriber_SubscribeUnsubscribe(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	col := collectCoder(t, dialCoder(t, s.url("topic=a"), nil))
	sub := recv(t, subs, "subscriber")
	assert.Equal(t, []string{"a"}, sub.Topics())

	require.NoError(t, sub.Subscribe(context.Background(), "b", "c", "b"))
	assert.ElementsMatch(t, []string{"a", "b", "c"}, sub.Topics())
	assert.Equal(t, 1, s.hub.NumSubscribers("b"))
	require.NoError(t, s.hub.Publish(context.Background(), "b", fanout.NewMessage([]byte("b1"))))

	sub.Unsubscribe("a", "c", "never-joined")
	assert.Equal(t, []string{"b"}, sub.Topics())
	assert.Zero(t, s.hub.NumSubscribers("a"))
	assert.Zero(t, s.hub.NumSubscribers("c"))
	require.NoError(t, s.hub.Publish(context.Background(), "a", fanout.NewMessage([]byte("a-after-unsubscribe"))))
	require.NoError(t, s.hub.Publish(context.Background(), "b", fanout.NewMessage([]byte("b2"))))
	// Unsubscribed from every topic, it still receives broadcasts and Send.
	sub.Unsubscribe("b")
	require.NoError(t, s.hub.Broadcast(context.Background(), fanout.NewMessage([]byte("broadcast"))))
	require.NoError(t, sub.Send(fanout.NewMessage([]byte("send"))))

	assert.Equal(t, []string{"b1", "b2", "broadcast", "send"}, texts(col.waitN(t, 4)))
	assert.Equal(t, 1, s.hub.Len())

	assert.ErrorIs(t, sub.Subscribe(context.Background(), ""), fanout.ErrInvalidTopic)
}

// TestHub_BroadcastFilter sends to the subscribers a filter keeps, chosen
// by their request's query values.
func TestHub_BroadcastFilter(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	cols := map[string]*collector{}
	for _, name := range []string{"ann", "bob", "cat", "dan"} {
		cols[name] = collectCoder(t, dialCoder(t, s.url("name="+name), nil))
		sub := recv(t, subs, "subscriber")
		require.Equal(t, name, sub.Request().URL.Query().Get("name"))
	}

	keep := map[string]bool{"bob": true, "dan": true}
	var seen []string
	require.NoError(t, s.hub.BroadcastFilter(context.Background(), fanout.NewMessage([]byte("only-some")), func(sub *fanout.Subscriber) bool {
		name := sub.Request().URL.Query().Get("name")
		seen = append(seen, name) // keep runs on this goroutine
		return keep[name]
	}))
	require.NoError(t, s.hub.Broadcast(context.Background(), fanout.NewMessage([]byte("end"))))
	assert.ElementsMatch(t, []string{"ann", "bob", "cat", "dan"}, seen, "keep sees every subscriber once")

	for name, col := range cols {
		want := []string{"end"}
		if keep[name] {
			want = []string{"only-some", "end"}
		}
		assert.Equal(t, want, texts(col.waitN(t, len(want))), name)
	}
	assert.Equal(t, uint64(2), s.hub.Stats().Published)
}

// TestSubscriber_Send sends to one subscriber only.
func TestSubscriber_Send(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	colA := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	subA := recv(t, subs, "subscriber A")
	colB := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	subB := recv(t, subs, "subscriber B")
	assert.NotEqual(t, subA.ID(), subB.ID())

	require.NoError(t, subB.Send(fanout.NewBinaryMessage([]byte{0, 1, 2})))
	require.NoError(t, subA.Send(fanout.NewMessage([]byte("for-a"))))
	require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("end"))))

	assert.Equal(t, []msg{{false, []byte("for-a")}, {false, []byte("end")}}, colA.waitN(t, 2))
	assert.Equal(t, []msg{{true, []byte{0, 1, 2}}, {false, []byte("end")}}, colB.waitN(t, 2))
	assert.Error(t, subA.Send(nil))
}

// TestHub_ConcurrentPublishOrder publishes from several goroutines at once:
// every subscriber receives every message, all in one and the same order,
// and each publisher's messages in the order it published them.
func TestHub_ConcurrentPublishOrder(t *testing.T) {
	t.Parallel()
	const pubs, each = 4, 250
	s := newServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 2 * pubs * each},
		PingInterval:    -1,
	})
	cols := []*collector{
		collectCoder(t, dialCoder(t, s.url("topic=t"), nil)),
		collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil)),
		collectCoder(t, dialCoder(t, s.url(""), nil)), // broadcasts only
	}
	eventually(t, func() bool { return s.hub.Len() == len(cols) }, waitTimeout, "subscribers registered")

	var wg sync.WaitGroup
	errs := make(chan error, pubs*each)
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := fanout.NewMessage(fmt.Appendf(nil, "%d:%d", p, i))
				if p%2 == 0 {
					errs <- s.hub.Publish(context.Background(), "t", m)
				} else {
					errs <- s.hub.Broadcast(context.Background(), m) // mixed with Publish: one order still
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Subscriber 2 only receives the broadcasts; its sequence must be the
	// others' with the topic messages left out.
	first := texts(cols[0].waitN(t, pubs*each))
	assert.Equal(t, first, texts(cols[1].waitN(t, pubs*each)), "both topic subscribers see one order")
	broadcasts := slices.DeleteFunc(slices.Clone(first), func(s string) bool {
		p, _, _ := strings.Cut(s, ":")
		n, _ := strconv.Atoi(p)
		return n%2 == 0
	})
	assert.Equal(t, broadcasts, texts(cols[2].waitN(t, len(broadcasts))), "broadcast subscriber sees the same order")

	next := make([]int, pubs)
	for _, s := range first {
		var p, i int
		_, err := fmt.Sscanf(s, "%d:%d", &p, &i)
		require.NoError(t, err)
		require.Equal(t, next[p], i, "publisher %d out of order", p)
		next[p]++
	}
}

// TestHub_Subscribers lists subscribers and tracks their count as clients
// come and go.
func TestHub_Subscribers(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	c1 := dialCoder(t, s.url("topic=x"), nil)
	s1 := recv(t, subs, "subscriber 1")
	dialCoder(t, s.url("topic=x"), nil)
	s2 := recv(t, subs, "subscriber 2")

	assert.ElementsMatch(t, []*fanout.Subscriber{s1, s2}, s.hub.Subscribers())
	assert.Equal(t, 2, s.hub.Stats().Subscribers)
	assert.Equal(t, "", s1.Subprotocol())
	assert.NotNil(t, s1.Request())

	require.NoError(t, c1.CloseNow())
	closedWithin(t, s1.Done(), "subscriber 1 done")
	assert.Equal(t, []*fanout.Subscriber{s2}, s.hub.Subscribers())
	assert.Equal(t, 1, s.hub.NumSubscribers("x"))
	assert.ErrorIs(t, s1.Send(fanout.NewMessage([]byte("late"))), fanout.ErrNotSubscribed)
	assert.ErrorIs(t, s1.Subscribe(context.Background(), "y"), fanout.ErrNotSubscribed)
}

// TestSubscriber_SendQueueFull: Send to a full queue reports ErrQueueFull,
// after applying the policy.
func TestSubscriber_SendQueueFull(t *testing.T) {
	t.Parallel()
	const queue = 2
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: queue, Policy: fanout.PolicyDrop},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "")
	for i := 1; i <= queue; i++ {
		require.NoError(t, st.sub.Send(num(i)))
	}
	assert.ErrorIs(t, st.sub.Send(num(queue+1)), fanout.ErrQueueFull)
	assert.Equal(t, uint64(1), st.sub.Dropped())
	st.release()
	assert.Equal(t, nums(0, queue+1), texts(st.col.waitN(t, queue+1)))
}

// TestHub_SubscribedWhenHandshakeCompletes: a subscriber is registered
// before the handshake response, so a message published the moment the
// client's Dial returns (no waiting on NumSubscribers) reaches it.
// Registering after the upgrade loses it in some rounds.
func TestHub_SubscribedWhenHandshakeCompletes(t *testing.T) {
	t.Parallel()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1})
	for round := range 50 {
		c := dialCoder(t, s.url("topic=t"), nil)
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(round)))
		col := collectCoder(t, c)
		assert.Equal(t, []string{strconv.Itoa(round)}, texts(col.waitN(t, 1)), "round %d", round)
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
		eventually(t, func() bool { return s.hub.Len() == 0 }, waitTimeout, "round %d: unsubscribed", round)
	}
}

// TestHub_FailedHandshakeLeavesNoSubscriber: a request refused by the
// handshake (here a bad origin) is never visible as a subscriber once its
// response has arrived, and OnConnect/OnDisconnect never see it.
func TestHub_FailedHandshakeLeavesNoSubscriber(t *testing.T) {
	t.Parallel()
	var hooks atomic.Int32
	s := newServer(t, &fanout.HubOptions{
		PingInterval: -1,
		OnConnect:    func(*fanout.Subscriber) { hooks.Add(1) },
		OnDisconnect: func(*fanout.Subscriber, error) { hooks.Add(1) },
	})
	for range 20 {
		resp := dialStatus(t, s.url("topic=t"), http.Header{"Origin": {"https://evil.example"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Zero(t, s.hub.Len())
		assert.Zero(t, s.hub.NumSubscribers("t"))
	}
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(1)))
	assert.Zero(t, hooks.Load())
	assert.Zero(t, s.hub.Stats().Delivered)
}
