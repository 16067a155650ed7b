package fanout_test

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// connReaders is what the stack of a goroutine that reads (or watches) one
// subscriber's connection holds: an idle subscriber the poller parks has
// none.
const connReaders = "fanout.startGoReader.func"

// These tests are not parallel: they count the goroutines of every Hub and
// Broker in the process.

func TestHubWrappedConnIdleGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		unwrap bool
		per    int // goroutines per idle subscriber
	}{
		{"unwrap", true, 0},
		{"opaque", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3
			before := goroutinesIn(connReaders)
			onConnect, subs := connectHook()
			got := make(chan string, 16)
			hub := fanout.NewHub(&fanout.HubOptions{
				OnConnect: onConnect,
				OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
			})
			srv := httptest.NewUnstartedServer(hub)
			ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 64), unwrap: tc.unwrap}
			srv.Listener = ln
			srv.Start()
			t.Cleanup(srv.Close)
			t.Cleanup(func() { _ = hub.Close() })
			s := &server{hub: hub, srv: srv, conns: ln.conns}

			clients := make([]*websocket.Conn, n)
			cols := make([]*collector, n)
			conns := make([]*countingConn, n)
			for i := range n {
				clients[i] = dialCoder(t, s.url("topic=t"), nil)
				cols[i] = collectCoder(t, clients[i])
				conns[i] = s.nextConn(t)
				recv(t, subs, "subscriber")
			}
			// A message from each client: its reader is set up, has read
			// through the wrapper, and is idle again.
			for i, c := range clients {
				require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte{'a' + byte(i)}))
				recv(t, got, "client message")
			}
			eventually(t, func() bool { return goroutinesIn(connReaders)-before == tc.per*n }, waitTimeout,
				"%d reader goroutines per idle subscriber", tc.per)
			for _, c := range conns {
				assert.Positive(t, c.read.Load(), "reads go through the wrapper")
			}

			require.NoError(t, hub.Publish(context.Background(), "t", num(1)))
			for _, col := range cols {
				assert.Equal(t, []string{"1"}, texts(col.waitN(t, 1)))
			}
			_ = clients[0].CloseNow() // the client goes away
			eventually(t, func() bool { return hub.Len() == n-1 }, waitTimeout, "client's going away noticed")
			require.NoError(t, hub.Close())
			for _, col := range cols[1:] {
				closedWithin(t, col.done, "client closed by Hub.Close")
			}
			eventually(t, func() bool { return goroutinesIn(connReaders) == before }, waitTimeout, "readers ended")
		})
	}
}

func TestBrokerWrappedConnIdleGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		unwrap bool
		per    int // goroutines per idle subscriber
	}{
		{"unwrap", true, 0},
		{"opaque", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3
			before := goroutinesIn(connReaders)
			opts := &fanout.BrokerOptions{}
			hooks := newSSEHooks(opts)
			b := fanout.NewBroker(opts)
			srv := httptest.NewUnstartedServer(b)
			ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 64), unwrap: tc.unwrap}
			srv.Listener = ln
			srv.Start()
			t.Cleanup(srv.Close)
			t.Cleanup(func() { _ = b.Close() })
			s := &sseServer{broker: b, srv: srv, conns: ln.conns}

			streams := make([]*sseStream, n)
			subs := make([]*fanout.Subscriber, n)
			for i := range n {
				streams[i] = sseOpen(t, s.url("topic=t"), nil)
				subs[i] = hooks.sub(t)
			}
			eventually(t, func() bool { return goroutinesIn(connReaders)-before == tc.per*n }, waitTimeout,
				"%d watcher goroutines per idle subscriber", tc.per)

			checkBrokerStreams(t, b, hooks, streams, subs, func() bool { return goroutinesIn(connReaders) == before })
		})
	}
}

// limitListener is docs/operations.md's limiting listener, whose
// connections have Unwrap (netutil.LimitListener's have not).
type limitListener struct {
	net.Listener
	sem chan struct{} // make(chan struct{}, n)
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn // Read is the socket's: nothing is buffered
	once     sync.Once
	release  func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *limitConn) Unwrap() net.Conn { return c.Conn }

// TestHubLimitListenerIdleGoroutines: behind the documented limiting
// listener, idle subscribers hold no goroutine, and a closed one frees its
// slot.
func TestHubLimitListenerIdleGoroutines(t *testing.T) {
	const n = 2
	before := goroutinesIn(connReaders)
	onConnect, subs := connectHook()
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: onConnect})
	srv := httptest.NewUnstartedServer(hub)
	ln := &limitListener{Listener: srv.Listener, sem: make(chan struct{}, n)}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	s := &server{hub: hub, srv: srv}

	clients := make([]*websocket.Conn, n)
	cols := make([]*collector, n)
	for i := range n {
		clients[i] = dialCoder(t, s.url("topic=t"), nil)
		cols[i] = collectCoder(t, clients[i])
		recv(t, subs, "subscriber")
	}
	require.NoError(t, hub.Publish(context.Background(), "t", num(1)))
	for _, col := range cols {
		assert.Equal(t, []string{"1"}, texts(col.waitN(t, 1)))
	}
	eventually(t, func() bool { return goroutinesIn(connReaders) == before }, waitTimeout, "no reader goroutines")
	assert.Len(t, ln.sem, n, "both slots taken")

	_ = clients[0].CloseNow()
	eventually(t, func() bool { return hub.Len() == n-1 }, waitTimeout, "client's going away noticed")
	// Its slot freed, the listener accepts the next connection.
	third := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	recv(t, subs, "third subscriber")
	require.NoError(t, hub.Publish(context.Background(), "t", num(2)))
	assert.Equal(t, []string{"2"}, texts(third.waitN(t, 1)))
	eventually(t, func() bool { return goroutinesIn(connReaders) == before }, waitTimeout, "no reader goroutines")
}

// checkBrokerStreams publishes to topic t on b and checks that every one
// of streams (subs, their subscribers) gets it, that the first client's
// going away is noticed, and that Close ends the others' streams and
// leaves no goroutine: until settled holds.
func checkBrokerStreams(t *testing.T, b *fanout.Broker, hooks *sseHooks, streams []*sseStream, subs []*fanout.Subscriber, settled func() bool) {
	t.Helper()
	require.NoError(t, b.Publish(context.Background(), "t", num(1)))
	for _, st := range streams {
		assert.Equal(t, []string{"1"}, sseData(st.waitN(t, 1)))
	}
	require.NoError(t, streams[0].resp.Body.Close()) // the client goes away
	eventually(t, func() bool { return hooks.disconnects(subs[0]) == 1 }, waitTimeout, "client's going away noticed")
	assert.Equal(t, len(streams)-1, b.Len())
	require.NoError(t, b.Close())
	for _, st := range streams[1:] {
		closedWithin(t, st.done, "stream ended by Broker.Close")
	}
	eventually(t, settled, waitTimeout, "watchers ended")
}
