package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// httpStatus returns the status of a plain GET (not a WebSocket handshake)
// to the server.
func httpStatus(t *testing.T, s *server) int {
	t.Helper()
	resp, err := s.srv.Client().Get(s.srv.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestHub_ShutdownDrains: Shutdown writes everything queued before it was
// called, then closes with status 1001; while it drains, new publishes get
// ErrClosed and new clients 503.
func TestHub_ShutdownDrains(t *testing.T) {
	t.Parallel()
	const n = 100
	onConnect, subs := connectHook()
	var disconnects atomic.Int32
	s := newCountingServer(t, &fanout.HubOptions{
		OnConnect:    onConnect,
		OnDisconnect: func(_ *fanout.Subscriber, err error) { disconnects.Add(1); assert.NoError(t, err) },
		PingInterval: -1,
	})
	col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")

	release := queueBehindHeldWrite(t, s, cc, sub, numbered(n)...)

	done := make(chan error, 1)
	go func() { done <- s.hub.Shutdown(context.Background()) }()
	eventually(t, func() bool { return httpStatus(t, s) == http.StatusServiceUnavailable }, waitTimeout, "503 while draining")
	assert.ErrorIs(t, s.hub.Publish(context.Background(), "t", num(n)), fanout.ErrClosed)
	assert.ErrorIs(t, s.hub.Broadcast(context.Background(), num(n)), fanout.ErrClosed)
	assert.True(t, isOpen(sub.Done()), "still draining")

	release()
	require.NoError(t, recv(t, done, "Shutdown to return"))
	assert.Equal(t, nums(0, n), texts(col.snapshot()), "everything published before Shutdown")
	err := col.closeErr(t)
	assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(err), "close: %v", err)
	assert.Equal(t, nums(0, n), texts(col.snapshot()))
	assert.False(t, isOpen(sub.Done()))
	assert.Equal(t, int32(1), disconnects.Load())
	assert.Equal(t, uint64(n), s.hub.Stats().Delivered)
	require.NoError(t, s.hub.Shutdown(context.Background()), "idempotent")
}

// TestHub_ShutdownDeadline: when ctx ends before a subscriber drains,
// Shutdown cuts the rest and returns ctx's error, without leaking.
func TestHub_ShutdownDeadline(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")
	entered, release := cc.hold() // never released before Shutdown returns
	t.Cleanup(release)
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(0)))
	closedWithin(t, entered, "writer inside its write")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.hub.Shutdown(ctx) }()
	eventually(t, func() bool { return httpStatus(t, s) == http.StatusServiceUnavailable }, waitTimeout, "shutdown begun")
	cancel()
	assert.ErrorIs(t, recv(t, done, "Shutdown to return"), context.Canceled)
	assert.False(t, isOpen(sub.Done()), "cut subscriber released")
}

// TestHub_CloseDiscardsQueue: Close does not write what is queued.
func TestHub_CloseDiscardsQueue(t *testing.T) {
	t.Parallel()
	const n = 20
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")
	release := queueBehindHeldWrite(t, s, cc, sub, numbered(n)...)

	done := make(chan error, 1)
	go func() { done <- s.hub.Close() }()
	// Close empties the queue before the held write can go on.
	eventually(t, func() bool { return sub.QueueLen() == 0 }, waitTimeout, "queue discarded")
	release()
	require.NoError(t, recv(t, done, "Close to return"))
	assert.False(t, isOpen(sub.Done()))
	col.closeErr(t)
	got := texts(col.snapshot())
	assert.LessOrEqual(t, len(got), 1, "the queued messages were discarded")
	assert.Equal(t, nums(0, len(got)), got)
	assert.Less(t, s.hub.Stats().Delivered, uint64(n))
}

// TestHub_CloseConcurrent: Close and Shutdown, called many times and
// concurrently, all return; every client is told the server is going away;
// OnConnect and OnDisconnect ran exactly once per subscriber.
func TestHub_CloseConcurrent(t *testing.T) {
	t.Parallel()
	const clients = 4
	var (
		mu           sync.Mutex
		connected    = map[uint64]int{}
		disconnected = map[uint64]int{}
	)
	s := newServer(t, &fanout.HubOptions{
		OnConnect: func(s *fanout.Subscriber) {
			mu.Lock()
			connected[s.ID()]++
			mu.Unlock()
		},
		OnDisconnect: func(s *fanout.Subscriber, _ error) {
			mu.Lock()
			disconnected[s.ID()]++
			mu.Unlock()
		},
		PingInterval: -1,
	})
	var cols []*collector
	for i := range clients {
		if i%2 == 0 {
			cols = append(cols, collectCoder(t, dialCoder(t, s.url("topic=t"), nil)))
		} else {
			cols = append(cols, collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil)))
		}
	}
	eventually(t, func() bool { return s.hub.Len() == clients }, waitTimeout, "subscribed")

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 == 0 {
				assert.NoError(t, s.hub.Shutdown(context.Background()))
			} else {
				assert.NoError(t, s.hub.Close())
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	closedWithin(t, finished, "concurrent Close and Shutdown to return")
	require.NoError(t, s.hub.Close())
	require.NoError(t, s.hub.Shutdown(context.Background()))

	for i, c := range cols {
		// A Close that lands while Shutdown's close frame is being written
		// does not cut it (wsconn.Conn.Abort spares a close frame).
		err := c.closeErr(t)
		assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(err), "client %d: %v", i, err)
	}
	assert.Zero(t, s.hub.Len())
	assert.Zero(t, s.hub.Stats().Subscribers)
	assert.ErrorIs(t, s.hub.Publish(context.Background(), "t", num(0)), fanout.ErrClosed)
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, connected, clients)
	assert.Len(t, disconnected, clients)
	for id, n := range connected {
		assert.Equal(t, 1, n, "OnConnect for %d", id)
		assert.Equal(t, 1, disconnected[id], "OnDisconnect for %d", id)
	}
}

// TestHub_CloseDuringShutdownSaysGoingAway: Close called while Shutdown
// is closing connections must still let every client see a going-away
// close frame. The race is narrow, so the test repeats it.
func TestHub_CloseDuringShutdownSaysGoingAway(t *testing.T) {
	t.Parallel()
	for round := range 40 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			s := newServer(t, &fanout.HubOptions{PingInterval: -1})
			var cols []*collector
			for range 8 {
				cols = append(cols, collectCoder(t, dialCoder(t, s.url(""), nil)))
			}
			eventually(t, func() bool { return s.hub.Len() == len(cols) }, waitTimeout, "subscribed")
			done := make(chan error, 1)
			go func() { done <- s.hub.Shutdown(context.Background()) }()
			require.NoError(t, s.hub.Close())
			require.NoError(t, recv(t, done, "Shutdown to return"))
			for i, c := range cols {
				err := c.closeErr(t)
				assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(err), "client %d: %v", i, err)
			}
		})
	}
}

// TestHub_CloseWithoutSubscribers: a hub that never served anyone closes
// at once, repeatedly.
func TestHub_CloseWithoutSubscribers(t *testing.T) {
	t.Parallel()
	hub := fanout.NewHub(nil)
	require.NoError(t, hub.Close())
	require.NoError(t, hub.Close())
	require.NoError(t, hub.Shutdown(context.Background()))
	assert.ErrorIs(t, hub.Broadcast(context.Background(), num(1)), fanout.ErrClosed)
}

// TestHub_ClientLeaves: a client that closes normally is released once,
// with a nil error, and stops counting.
func TestHub_ClientLeaves(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	errs := make(chan error, 4)
	s := newServer(t, &fanout.HubOptions{
		OnConnect:    onConnect,
		OnDisconnect: func(_ *fanout.Subscriber, err error) { errs <- err },
		PingInterval: -1,
	})
	c := dialCoder(t, s.url("topic=t"), nil)
	sub := recv(t, subs, "subscriber")
	require.NoError(t, c.Close(websocket.StatusNormalClosure, "bye"))
	closedWithin(t, sub.Done(), "subscriber done")
	assert.NoError(t, recv(t, errs, "OnDisconnect"))
	assert.Zero(t, s.hub.Len())
	assert.Zero(t, s.hub.NumSubscribers("t"))
	assert.Empty(t, errs, "OnDisconnect once")
}

// TestSubscriber_Close: the application ends one subscription; its client
// gets a normal closure and the others are unaffected.
func TestSubscriber_Close(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	gone := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	sub := recv(t, subs, "subscriber")
	stays := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	recv(t, subs, "other subscriber")

	require.NoError(t, sub.Close())
	assert.ErrorIs(t, sub.Close(), fanout.ErrNotSubscribed)
	assert.Equal(t, int(websocket.StatusNormalClosure), closeStatus(gone.closeErr(t)))
	closedWithin(t, sub.Done(), "subscriber done")
	assert.Equal(t, 1, s.hub.Len())
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(7)))
	assert.Equal(t, []string{"7"}, texts(stays.waitN(t, 1)))
}

// TestHub_KeepaliveClosesDeadPeer: a client that never reads never answers
// pings; the Hub closes it as dead and frees it.
func TestHub_KeepaliveClosesDeadPeer(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	errs := make(chan error, 1)
	s := newServer(t, &fanout.HubOptions{
		OnConnect:    onConnect,
		OnDisconnect: func(_ *fanout.Subscriber, err error) { errs <- err },
		PingInterval: 20 * time.Millisecond,
	})
	dialGorilla(t, s.url("topic=t"), nil) // never reads, so never answers
	sub := recv(t, subs, "subscriber")
	closedWithin(t, sub.Done(), "dead peer released")
	assert.Zero(t, s.hub.Len())
	assert.Error(t, recv(t, errs, "OnDisconnect"), "a dead peer is reported")
}

// TestHub_KeepaliveKeepsLivePeer: clients that read answer pings and stay
// connected over several ping intervals.
func TestHub_KeepaliveKeepsLivePeer(t *testing.T) {
	t.Parallel()
	var disconnects atomic.Int32
	s := newServer(t, &fanout.HubOptions{
		OnDisconnect: func(*fanout.Subscriber, error) { disconnects.Add(1) },
		// A peer is dead when a pong is later than the next ping: an
		// interval far above scheduling delays on a loaded machine.
		PingInterval: 500 * time.Millisecond,
	})
	g := dialGorilla(t, s.url("topic=t"), nil)
	var pings atomic.Int32
	g.SetPingHandler(func(data string) error {
		pings.Add(1)
		return g.WriteControl(gws.PongMessage, []byte(data), time.Now().Add(waitTimeout))
	})
	gCol := collectGorilla(t, g)
	cCol := collectCoder(t, dialCoder(t, s.url("topic=t"), nil)) // answers by itself
	eventually(t, func() bool { return s.hub.Len() == 2 }, waitTimeout, "subscribed")

	eventually(t, func() bool { return pings.Load() >= 3 }, waitTimeout, "pings received")
	assert.Equal(t, 2, s.hub.Len())
	assert.Zero(t, disconnects.Load())
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(1)))
	assert.Equal(t, []string{"1"}, texts(gCol.waitN(t, 1)))
	assert.Equal(t, []string{"1"}, texts(cCol.waitN(t, 1)))
	eventually(t, func() bool { return s.hub.Stats().Delivered == 2 }, waitTimeout, "stats updated")
	assert.Equal(t, uint64(2), s.hub.Stats().Writes, "pings are not data writes")
}

// registerServer serves WebSockets accepted by the application itself and
// handed to hub.Register. Each registration's outcome goes to the channel.
type registration struct {
	sub *fanout.Subscriber
	err error
}

func registerServer(t *testing.T, hub *fanout.Hub, accept *websocket.AcceptOptions) (*httptest.Server, <-chan registration) {
	t.Helper()
	regs := make(chan registration, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, accept)
		if err != nil {
			return
		}
		// The subscription outlives this handler, so its context must not
		// be the request's; CloseRead's ends when the connection does.
		ctx := conn.CloseRead(context.Background())
		sub, err := hub.Register(ctx, conn, fanout.Grant{Topics: []string{"t"}})
		if err != nil {
			_ = conn.Close(websocket.StatusTryAgainLater, "closed")
		}
		regs <- registration{sub, err}
	}))
	t.Cleanup(srv.Close)
	return srv, regs
}

// TestHub_Register: a connection the application accepted receives what is
// published to its topics, and its subscription ends when the client
// leaves.
func TestHub_Register(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		packed bool
	}{
		{"plain", false},
		{"packed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				connects atomic.Int32
				errs     = make(chan error, 2)
			)
			hub := fanout.NewHub(&fanout.HubOptions{
				Packing:      tc.packed,
				OnConnect:    func(*fanout.Subscriber) { connects.Add(1) },
				OnDisconnect: func(_ *fanout.Subscriber, err error) { errs <- err },
				PingInterval: -1,
			})
			t.Cleanup(func() { require.NoError(t, hub.Close()) })
			var accept *websocket.AcceptOptions
			var offer []string
			if tc.packed {
				accept = &websocket.AcceptOptions{Subprotocols: []string{fanout.PackedSubprotocol}}
				offer = []string{fanout.PackedSubprotocol}
			}
			srv, regs := registerServer(t, hub, accept)
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			c := dialCoder(t, url, &websocket.DialOptions{Subprotocols: offer})
			col := collectCoder(t, c)
			reg := recv(t, regs, "registration")
			require.NoError(t, reg.err)
			sub := reg.sub
			assert.Nil(t, sub.Request())
			assert.Equal(t, []string{"t"}, sub.Topics())
			assert.Equal(t, int32(1), connects.Load())
			assert.Equal(t, 1, hub.NumSubscribers("t"))

			ms := []*fanout.Message{fanout.NewMessage([]byte("one")), fanout.NewBinaryMessage([]byte{2}), fanout.NewMessage([]byte("three"))}
			for _, m := range ms {
				require.NoError(t, hub.Publish(context.Background(), "t", m))
			}
			if tc.packed {
				var got []msg
				for i := 1; len(got) < len(ms); i++ {
					f := col.waitN(t, i)[i-1]
					require.True(t, f.binary, "packed frames are binary")
					require.NoError(t, fanout.Unpack(f.data, func(typ fanout.MessageType, data []byte) error {
						got = append(got, msg{binary: typ == fanout.Binary, data: data})
						return nil
					}))
				}
				assertSameMsgs(t, asMsgs(ms), got)
			} else {
				assertSameMsgs(t, asMsgs(ms), col.waitN(t, len(ms)))
			}
			eventually(t, func() bool { return sub.Delivered() == uint64(len(ms)) }, waitTimeout, "delivered counted")

			require.NoError(t, c.Close(websocket.StatusNormalClosure, "bye"))
			closedWithin(t, sub.Done(), "subscription ended after the client left")
			// The Hub cannot tell why the application's context ended: it
			// reports the context's error, not a client error.
			if err := recv(t, errs, "OnDisconnect"); err != nil {
				assert.ErrorIs(t, err, context.Canceled)
			}
			assert.Empty(t, errs, "OnDisconnect once")
			assert.Zero(t, hub.Len())
		})
	}
}

// TestHub_RegisterAfterClose: Register fails with ErrClosed once the hub
// is closed.
func TestHub_RegisterAfterClose(t *testing.T) {
	t.Parallel()
	hub := fanout.NewHub(&fanout.HubOptions{PingInterval: -1})
	srv, regs := registerServer(t, hub, nil)
	require.NoError(t, hub.Close())
	c := dialCoder(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	col := collectCoder(t, c)
	assert.ErrorIs(t, recv(t, regs, "registration").err, fanout.ErrClosed)
	assert.Equal(t, int(websocket.StatusTryAgainLater), closeStatus(col.closeErr(t)))
}
