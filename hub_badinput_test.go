// Bad input to a Hub: read limit (hub_reader.go), Origin and refusals
// (handshake.go, access.go), invalid arguments and shutdown (core.go),
// malformed records (packed.go), a panicking hook (subscriber.go).

package fanout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_ReadLimit: a client message over ReadLimit closes that client's
// connection with status 1009; one at the limit is delivered to OnMessage;
// other subscribers keep receiving.
func TestHub_ReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	got := make(chan int, 16)
	s := newServer(t, &fanout.HubOptions{
		ReadLimit: limit,
		OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) {
			got <- m.Len()
		},
		PingInterval: -1,
	})
	big := dialCoder(t, s.url("topic=t"), nil)
	bigCol := collectCoder(t, big)
	ok := dialCoder(t, s.url("topic=t"), nil)
	okCol := collectCoder(t, ok)
	other := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	eventually(t, func() bool { return s.hub.Len() == 3 }, waitTimeout, "subscribed")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, ok.Write(ctx, websocket.MessageBinary, make([]byte, limit)))
	assert.Equal(t, limit, recv(t, got, "message at the limit"))
	require.NoError(t, big.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("x"), limit+1)))

	err := bigCol.closeErr(t)
	assert.Equal(t, int(websocket.StatusMessageTooBig), closeStatus(err), "close: %v", err)
	eventually(t, func() bool { return s.hub.Len() == 2 }, waitTimeout, "oversized client freed")
	assert.Empty(t, got, "the oversized message never reached OnMessage")

	require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("still here"))))
	assert.Equal(t, []string{"still here"}, texts(other.waitN(t, 1)))
	assert.Equal(t, []string{"still here"}, texts(okCol.waitN(t, 1)))
	assert.Empty(t, bigCol.snapshot())
}

// TestHub_Origin: a cross-origin handshake is refused with 403 unless
// AcceptOptions allows it, and never becomes a subscriber.
func TestHub_Origin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   *websocket.AcceptOptions
		origin string // "" means the server's own
		ok     bool
	}{
		{"other host refused", nil, "http://evil.example", false},
		{"same origin accepted", nil, "", true},
		{"allowed pattern", &websocket.AcceptOptions{OriginPatterns: []string{"*.good.example"}}, "https://app.good.example", true},
		{"pattern does not match", &websocket.AcceptOptions{OriginPatterns: []string{"*.good.example"}}, "https://evil.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var connects atomic.Int32
			s := newServer(t, &fanout.HubOptions{
				AcceptOptions: tc.opts,
				OnConnect:     func(*fanout.Subscriber) { connects.Add(1) },
				PingInterval:  -1,
			})
			origin := tc.origin
			if origin == "" {
				origin = s.srv.URL
			}
			h := http.Header{"Origin": {origin}}
			if !tc.ok {
				resp := dialStatus(t, s.url("topic=t"), h)
				assert.Equal(t, http.StatusForbidden, resp.StatusCode)
				assert.Zero(t, s.hub.Len())
				assert.Zero(t, connects.Load())
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			c, _, err := websocket.Dial(ctx, s.url("topic=t"), &websocket.DialOptions{HTTPHeader: h})
			require.NoError(t, err)
			defer c.CloseNow()
			eventually(t, func() bool { return connects.Load() == 1 }, waitTimeout, "subscribed")
			assert.Equal(t, 1, s.hub.NumSubscribers("t"))
		})
	}
}

// TestHub_AuthorizeRefusals maps Authorize's errors (and bad topics) to
// HTTP statuses before any upgrade.
func TestHub_AuthorizeRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		authorize func(*http.Request) (fanout.Grant, error)
		query     string
		status    int
	}{
		{"unauthorized", func(*http.Request) (fanout.Grant, error) { return fanout.Grant{}, fanout.ErrUnauthorized }, "", http.StatusUnauthorized},
		{"wrapped unauthorized", func(*http.Request) (fanout.Grant, error) {
			return fanout.Grant{}, fmt.Errorf("token expired: %w", fanout.ErrUnauthorized)
		}, "", http.StatusUnauthorized},
		{"forbidden", func(*http.Request) (fanout.Grant, error) {
			return fanout.Grant{}, fmt.Errorf("not your room: %w", fanout.ErrForbidden)
		}, "", http.StatusForbidden},
		{"other error", func(*http.Request) (fanout.Grant, error) { return fanout.Grant{}, errors.New("db down") }, "", http.StatusInternalServerError},
		{"empty topic from authorize", func(*http.Request) (fanout.Grant, error) { return fanout.Grant{Topics: []string{"a", ""}}, nil }, "", http.StatusBadRequest},
		{"empty topic in query", nil, "topic=", http.StatusBadRequest},
		{"one empty topic among others", nil, "topic=a&topic=", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var connects atomic.Int32
			s := newServer(t, &fanout.HubOptions{
				Authorize:    tc.authorize,
				OnConnect:    func(*fanout.Subscriber) { connects.Add(1) },
				PingInterval: -1,
			})
			resp := dialStatus(t, s.url(tc.query), nil)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Zero(t, s.hub.Len())
			assert.Zero(t, connects.Load())
		})
	}
}

// TestHub_AuthorizeChoosesTopics: topics come from Authorize, not the
// query, when it is set.
func TestHub_AuthorizeChoosesTopics(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{
		Authorize: func(r *http.Request) (fanout.Grant, error) {
			if r.Header.Get("X-User") != "ann" {
				return fanout.Grant{}, fanout.ErrUnauthorized
			}
			return fanout.Grant{Topics: []string{"user:ann"}}, nil
		},
		OnConnect:    onConnect,
		PingInterval: -1,
	})
	assert.Equal(t, http.StatusUnauthorized, dialStatus(t, s.url("topic=user:ann"), nil).StatusCode)
	col := collectCoder(t, dialCoder(t, s.url("topic=user:bob"),
		&websocket.DialOptions{HTTPHeader: http.Header{"X-User": {"ann"}}}))
	sub := recv(t, subs, "subscriber")
	assert.Equal(t, []string{"user:ann"}, sub.Topics())
	require.NoError(t, s.hub.Publish(context.Background(), "user:bob", fanout.NewMessage([]byte("not for ann"))))
	require.NoError(t, s.hub.Publish(context.Background(), "user:ann", fanout.NewMessage([]byte("for ann"))))
	assert.Equal(t, []string{"for ann"}, texts(col.waitN(t, 1)))
}

// TestHub_InvalidArguments: nil messages and empty topics are refused.
func TestHub_InvalidArguments(t *testing.T) {
	t.Parallel()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1})
	assert.ErrorIs(t, s.hub.Publish(context.Background(), "", fanout.NewMessage(nil)), fanout.ErrInvalidTopic)
	assert.Error(t, s.hub.Publish(context.Background(), "t", nil))
	assert.Error(t, s.hub.Broadcast(context.Background(), nil))
	assert.Error(t, s.hub.BroadcastFilter(context.Background(), nil, func(*fanout.Subscriber) bool { return true }))
	assert.Zero(t, s.hub.Stats().Published)
}

// TestHub_AfterShutdown: once shut down, publishing fails with ErrClosed
// and the handler answers 503.
func TestHub_AfterShutdown(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	sub := recv(t, subs, "subscriber")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx))
	assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(col.closeErr(t)))

	m := fanout.NewMessage([]byte("late"))
	assert.ErrorIs(t, s.hub.Publish(context.Background(), "t", m), fanout.ErrClosed)
	assert.ErrorIs(t, s.hub.Broadcast(context.Background(), m), fanout.ErrClosed)
	assert.ErrorIs(t, s.hub.BroadcastFilter(context.Background(), m, func(*fanout.Subscriber) bool { return true }), fanout.ErrClosed)
	// errors.go documents ErrClosed for Send, not ErrNotSubscribed.
	assert.ErrorIs(t, sub.Send(m), fanout.ErrClosed, "Send after Shutdown")

	resp := dialStatus(t, s.url("topic=t"), nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Zero(t, s.hub.Len())
	assert.Zero(t, s.hub.Stats().Published)
}

// TestHub_ShutdownDuringBroadcast shuts the hub down while several
// goroutines broadcast: no panic, no deadlock, publishers end with
// ErrClosed, and every subscriber received a prefix of the one publish
// order, with no gap and no duplicate, including every message accepted
// before Shutdown was called.
func TestHub_ShutdownDuringBroadcast(t *testing.T) {
	t.Parallel()
	const pubs, each = 3, 2000
	s := newServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: pubs * each},
		PingInterval:    -1,
	})
	cols := []*collector{
		collectCoder(t, dialCoder(t, s.url(""), nil)),
		collectGorilla(t, dialGorilla(t, s.url(""), nil)),
		collectCoder(t, dialCoder(t, s.url(""), nil)),
	}
	eventually(t, func() bool { return s.hub.Len() == len(cols) }, waitTimeout, "subscribed")

	var (
		accepted atomic.Int64
		wg       sync.WaitGroup
		errs     = make(chan error, pubs)
	)
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.hub.Broadcast(context.Background(), fanout.NewMessage(fmt.Appendf(nil, "%d:%d", p, i)))
				if err != nil {
					errs <- err
					return
				}
				accepted.Add(1)
			}
			errs <- nil
		}()
	}
	eventually(t, func() bool { return accepted.Load() >= 300 }, waitTimeout, "publishing under way")
	before := int(accepted.Load())
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, s.hub.Shutdown(ctx))
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			assert.ErrorIs(t, err, fanout.ErrClosed)
		}
	}

	var longest []string
	got := make([][]string, len(cols))
	for i, c := range cols {
		assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(c.closeErr(t)), "subscriber %d", i)
		got[i] = texts(c.snapshot())
		if len(got[i]) > len(longest) {
			longest = got[i]
		}
	}
	for i, g := range got {
		assert.GreaterOrEqual(t, len(g), before, "subscriber %d lost messages accepted before Shutdown", i)
		assert.LessOrEqual(t, len(g), int(accepted.Load()), "subscriber %d", i)
		assert.Equal(t, longest[:len(g)], g, "subscriber %d: a prefix of the one order", i)
		next := make([]int, pubs)
		for _, m := range g {
			var p, n int
			_, err := fmt.Sscanf(m, "%d:%d", &p, &n)
			require.NoError(t, err)
			require.Equal(t, next[p], n, "subscriber %d: publisher %d gap or duplicate", i, p)
			next[p]++
		}
	}
	t.Logf("accepted %d (%d before Shutdown); received %d, %d, %d",
		accepted.Load(), before, len(got[0]), len(got[1]), len(got[2]))
}

// TestHub_ClientResetMidBatch: a client that resets its TCP connection
// while the Hub is writing a batch to it is freed; the others receive
// everything intact.
func TestHub_ClientResetMidBatch(t *testing.T) {
	t.Parallel()
	const n, size = 100, 8 << 10
	onConnect, subs := connectHook()
	var disconnects atomic.Int32
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 2 * n},
		OnConnect:       onConnect,
		OnDisconnect:    func(*fanout.Subscriber, error) { disconnects.Add(1) },
		PingInterval:    -1,
	})
	a := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	s.nextConn(t)
	recv(t, subs, "subscriber a")
	victim := dialGorilla(t, s.url("topic=t"), nil)
	victimConn := s.nextConn(t)
	victimSub := recv(t, subs, "victim")
	b := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	s.nextConn(t)
	recv(t, subs, "subscriber b")

	msgOf := func(i int) *fanout.Message {
		return fanout.NewMessage(append(fmt.Appendf(nil, "%04d", i), bytes.Repeat([]byte{'a' + byte(i%26)}, size)...))
	}
	entered, release := victimConn.hold()
	t.Cleanup(release)
	require.NoError(t, s.hub.Publish(context.Background(), "t", msgOf(0)))
	closedWithin(t, entered, "victim's writer inside its write")
	for i := 1; i < n; i++ {
		require.NoError(t, s.hub.Publish(context.Background(), "t", msgOf(i)))
	}

	tcp, ok := victim.NetConn().(*net.TCPConn)
	require.True(t, ok, "gorilla client over TCP")
	require.NoError(t, tcp.SetLinger(0))
	require.NoError(t, tcp.Close()) // RST, not FIN
	release()

	closedWithin(t, victimSub.Done(), "victim released")
	assert.Equal(t, 2, s.hub.Len())
	assert.Equal(t, int32(1), disconnects.Load())
	for name, c := range map[string]*collector{"a": a, "b": b} {
		got := c.waitN(t, n)
		for i, m := range got {
			require.True(t, bytes.Equal(msgOf(i).Data(), m.data), "%s: message %d damaged", name, i)
		}
	}
	require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("after"))))
	assert.Equal(t, "after", string(a.waitN(t, n+1)[n].data))
	assert.Equal(t, "after", string(b.waitN(t, n+1)[n].data))
}

// TestUnpack_Malformed: Unpack reports damage with ErrBadPacked after
// handing over the records before it, and passes fn's error through.
func TestUnpack_Malformed(t *testing.T) {
	t.Parallel()
	good := []byte{1, 0, 0, 0, 2, 'h', 'i'}
	for _, tc := range []struct {
		name    string
		frame   []byte
		records int
		bad     bool
	}{
		{"empty frame", nil, 0, false},
		{"one record", good, 1, false},
		{"empty record", []byte{2, 0, 0, 0, 0}, 1, false},
		{"truncated header", append(slices.Clone(good), 1, 0, 0), 1, true},
		{"unknown kind", append(slices.Clone(good), 3, 0, 0, 0, 0), 1, true},
		{"length overruns frame", append(slices.Clone(good), 2, 0, 0, 0, 9, 1), 1, true},
		{"huge length", []byte{1, 0xff, 0xff, 0xff, 0xff, 'x'}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			records := 0
			err := fanout.Unpack(tc.frame, func(fanout.MessageType, []byte) error {
				records++
				return nil
			})
			assert.Equal(t, tc.records, records)
			if tc.bad {
				assert.ErrorIs(t, err, fanout.ErrBadPacked)
			} else {
				assert.NoError(t, err)
			}
		})
	}

	stop := errors.New("stop")
	calls := 0
	err := fanout.Unpack(append(slices.Clone(good), good...), func(fanout.MessageType, []byte) error {
		calls++
		return stop
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

// TestHub_HookPanicEndsOnlyThatSubscriber: a panic in OnMessage is
// recovered like a handler panic in net/http: the client whose message
// caused it is closed with 1011 (internal error), OnDisconnect sees the
// panic as its error, and the other subscribers and the Hub carry on.
func TestHub_HookPanicEndsOnlyThatSubscriber(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 2)
	s := newServer(t, &fanout.HubOptions{
		PingInterval: -1,
		OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) {
			if string(m.Data()) == "boom" {
				panic("boom")
			}
		},
		OnDisconnect: func(_ *fanout.Subscriber, err error) { ended <- err },
	})
	bad := dialCoder(t, s.url("topic=t"), nil)
	badCol := collectCoder(t, bad)
	good := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	eventually(t, func() bool { return s.hub.NumSubscribers("t") == 2 }, waitTimeout, "subscribed")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, bad.Write(ctx, websocket.MessageText, []byte("boom")))
	assert.Equal(t, int(websocket.StatusInternalError), closeStatus(badCol.closeErr(t)))
	err := recv(t, ended, "OnDisconnect")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panic in OnMessage")

	require.NoError(t, s.hub.Publish(context.Background(), "t", num(1)))
	assert.Equal(t, []string{"1"}, texts(good.waitN(t, 1)))
	assert.Equal(t, 1, s.hub.Len())
}
