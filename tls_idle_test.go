package fanout_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// idleReaders counts the goroutines that read (or watch) one subscriber's
// connection: the Hub's, for the subscriber's whole life or for a moment
// while its client sends, and the Broker's watchers.
func idleReaders() int {
	return goroutinesIn("fanout.(*wsReader)") + goroutinesIn("fanout.(*Broker).startWatcher")
}

// startTLS serves h over TLS with HTTP/1.1 only (httptest's StartTLS
// without EnableHTTP2), over a counting listener whose connections promise
// to buffer nothing (Unwrap): only crypto/tls sits above the socket.
func startTLS(t testing.TB, h http.Handler) (*httptest.Server, chan *countingConn) {
	srv := httptest.NewUnstartedServer(h)
	ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 64), unwrap: true}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ln.conns
}

// These tests are not parallel: they count the goroutines of every Hub and
// Broker in the process.

// TestHubTLSIdleGoroutines: idle WebSocket subscribers over TLS hold no
// goroutine, get what is published, answer pings (taken off the socket by
// the poller's path) for several ping intervals, and a client's going
// away is noticed.
func TestHubTLSIdleGoroutines(t *testing.T) {
	const n = 50
	const ping = 300 * time.Millisecond
	before := idleReaders()
	onConnect, subs := connectHook()
	got := make(chan string, n)
	var pongs atomic.Int64
	hub := fanout.NewHub(&fanout.HubOptions{
		OnConnect:     onConnect,
		OnMessage:     func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
		PingInterval:  ping,
		AcceptOptions: &websocket.AcceptOptions{OnPongReceived: func(context.Context, []byte) { pongs.Add(1) }},
	})
	srv, _ := startTLS(t, hub)
	t.Cleanup(func() { _ = hub.Close() })
	s := &server{hub: hub, srv: srv}
	require.True(t, strings.HasPrefix(s.url(""), "wss://"))

	clients := make([]*websocket.Conn, n)
	cols := make([]*collector, n)
	for i := range n {
		clients[i] = dialCoder(t, s.url("topic=t"), &websocket.DialOptions{HTTPClient: srv.Client()})
		cols[i] = collectCoder(t, clients[i])
		recv(t, subs, "subscriber")
	}
	// A message from each client: its reader has read through TLS and is
	// idle again.
	for i, c := range clients {
		require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte{'a' + byte(i%26)}))
	}
	for range n {
		recv(t, got, "client message")
	}
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout,
		"no reader goroutine per idle TLS subscriber (%d now)", idleReaders()-before)

	require.NoError(t, hub.Publish(context.Background(), "t", num(1)))
	for _, col := range cols {
		assert.Equal(t, []string{"1"}, texts(col.waitN(t, 1)))
	}

	// Pings for several intervals: every client answers, no subscriber
	// is dropped as dead, and none keeps a reader.
	start := pongs.Load()
	eventually(t, func() bool { return pongs.Load()-start >= 4*n }, waitTimeout, "pongs of %d subscribers", n)
	assert.Equal(t, n, hub.Len(), "no subscriber dropped for want of a pong")
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout, "no reader goroutine after pongs")

	_ = clients[0].CloseNow() // the client goes away
	eventually(t, func() bool { return hub.Len() == n-1 }, waitTimeout, "client's going away noticed")
	require.NoError(t, hub.Close())
	for _, col := range cols[1:] {
		closedWithin(t, col.done, "client closed by Hub.Close")
	}
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout, "readers ended")
}

// TestBrokerTLSIdleGoroutines: idle SSE subscribers over TLS (HTTP/1.1)
// hold no goroutine, get what is published, and a client's going away is
// noticed.
func TestBrokerTLSIdleGoroutines(t *testing.T) {
	const n = 50
	before := idleReaders()
	opts := &fanout.BrokerOptions{}
	hooks := newSSEHooks(opts)
	b := fanout.NewBroker(opts)
	srv, _ := startTLS(t, b)
	t.Cleanup(func() { _ = b.Close() })
	s := &sseServer{broker: b, srv: srv}

	streams := make([]*sseStream, n)
	subs := make([]*fanout.Subscriber, n)
	for i := range n {
		resp := sseDo(t, srv.Client(), s.url("topic=t"), nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, 1, resp.ProtoMajor, "HTTP/1.1 over TLS")
		streams[i] = sseRead(t, resp)
		subs[i] = hooks.sub(t)
	}
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout,
		"no watcher goroutine per idle TLS subscriber (%d now)", idleReaders()-before)

	checkBrokerStreams(t, b, hooks, streams, subs, func() bool { return idleReaders() == before })
}

// dialSplitTLS opens a WebSocket to srv's topic t over TLS, the TCP
// connection under it a splitConn, by a handshake written by hand (a
// client library would read ahead), and returns the TLS connection, the
// splitConn and the server's side of it (from conns).
func dialSplitTLS(t *testing.T, srv *httptest.Server, conns chan *countingConn) (*tls.Conn, *splitConn, *countingConn) {
	t.Helper()
	tcp, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), waitTimeout)
	require.NoError(t, err)
	sc := &splitConn{Conn: tcp}
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.ServerName = "example.com" // httptest's certificate's
	c := tls.Client(sc, cfg)
	t.Cleanup(func() { _ = c.Close() })
	_, err = io.WriteString(c, "GET /?topic=t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	return c, sc, recv(t, conns, "accepted connection")
}

// splitConn is a client's TCP connection, under its TLS, that cuts its
// next Write in two when asked: the first cut bytes, then (once wait has
// returned) the rest, in two segments.
type splitConn struct {
	net.Conn
	written int64
	cut     int
	wait    func(written int64)
}

func (c *splitConn) Write(p []byte) (int, error) {
	if c.cut > 0 && c.cut < len(p) {
		k := c.cut
		c.cut = 0
		n, err := c.Conn.Write(p[:k])
		c.written += int64(n)
		if err != nil {
			return n, err
		}
		c.wait(c.written)
		m, err := c.Conn.Write(p[k:])
		c.written += int64(m)
		return n + m, err
	}
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	return n, err
}

// TestHubTLSSplitMessage: a client message that arrives in parts, split
// across TLS records or a TLS record split across TCP segments, each part
// read by the server before the next is sent, is read whole; the
// subscriber is idle again after it.
func TestHubTLSSplitMessage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		segments bool // one record, in two TCP segments; else two records
	}{
		{"records", false},
		{"segments", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := idleReaders()
			got := make(chan string, 4)
			hub := fanout.NewHub(&fanout.HubOptions{
				OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
			})
			srv, conns := startTLS(t, hub)
			t.Cleanup(func() { _ = hub.Close() })

			c, sc, server := dialSplitTLS(t, srv, conns)
			_ = c.SetDeadline(time.Now().Add(waitTimeout))

			// Each part is sent once the server has read all before it.
			sc.wait = func(written int64) {
				eventually(t, func() bool { return server.read.Load() >= written }, waitTimeout, "server read the first part")
			}
			msg := strings.Repeat("split across TLS, ", 8)
			frame := cframe(0x81, []byte(msg))
			var err error
			if tc.segments {
				sc.cut = 9 // within the record's header and the frame's
				_, err = c.Write(frame)
			} else {
				_, err = c.Write(frame[:7])
				require.NoError(t, err)
				sc.wait(sc.written)
				_, err = c.Write(frame[7:])
			}
			require.NoError(t, err)
			assert.Equal(t, msg, recv(t, got, "split message"))

			_, err = c.Write(cframe(0x81, []byte("next")))
			require.NoError(t, err)
			assert.Equal(t, "next", recv(t, got, "next message"))
			eventually(t, func() bool { return idleReaders() == before }, waitTimeout, "subscriber idle again")
			_ = c.Close()
			eventually(t, func() bool { return hub.Len() == 0 }, waitTimeout, "client's going away noticed")
		})
	}
}

// TestBrokerTLSFloodingClientIsCut: over TLS too, an SSE client that keeps
// sending after its request has its stream closed after a few KiB, which
// the watcher counts in crypto/tls's plaintext and then in the records it
// takes off the socket; the other clients stream on.
func TestBrokerTLSFloodingClientIsCut(t *testing.T) {
	opts := &fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(opts)
	b := fanout.NewBroker(opts)
	srv, conns := startTLS(t, b)
	t.Cleanup(func() { _ = b.Close() })
	s := &sseServer{broker: b, srv: srv}
	resp := sseDo(t, srv.Client(), s.url("topic=t"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	good := sseRead(t, resp)
	recv(t, conns, "accepted connection")
	h.sub(t)

	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.ServerName = "example.com" // httptest's certificate's
	c, err := tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Write([]byte("GET /?topic=t HTTP/1.1\r\nHost: fanout.test\r\nContent-Length: 1000000000000\r\n\r\n"))
	require.NoError(t, err)
	server := recv(t, conns, "accepted connection")
	flooder := h.sub(t)

	sent := make(chan error, 1)
	go func() {
		chunk := make([]byte, 16<<10)
		for n := 0; n < 256<<20; n += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := range 20 {
		require.NoError(t, b.Publish(context.Background(), "t", num(i)))
	}
	assert.Equal(t, nums(0, 20), sseData(good.waitN(t, 20)), "the other client streams on")
	closedWithin(t, flooder.Done(), "the flooding client's stream ended")
	assert.Error(t, recv(t, sent, "the flooding writer's end"), "the server stopped taking its bytes")
	assert.Less(t, server.read.Load(), int64(96<<10), "bytes the server read from the flooding client")
	assert.Equal(t, 1, b.Len())
}

// TestHubTLSPongs: pongs a client sends unasked over TLS, whole in a
// record with a message behind them, or cut across records, are taken
// (OnPongReceived sees each once) and the message is read; the subscriber
// is idle again after each.
func TestHubTLSPongs(t *testing.T) {
	before := idleReaders()
	got := make(chan string, 4)
	pongs := make(chan string, 8)
	hub := fanout.NewHub(&fanout.HubOptions{
		OnMessage:     func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
		AcceptOptions: &websocket.AcceptOptions{OnPongReceived: func(_ context.Context, p []byte) { pongs <- string(p) }},
	})
	srv, conns := startTLS(t, hub)
	t.Cleanup(func() { _ = hub.Close() })

	c, sc, server := dialSplitTLS(t, srv, conns)
	wrote := func() {
		eventually(t, func() bool { return server.read.Load() >= sc.written }, waitTimeout, "server read what was sent")
	}
	pong := func(p string) []byte { return cframe(0x8A, []byte(p)) }

	// Two pongs and a message in one record.
	_, err := c.Write(append(append(pong("p1"), pong("p2")...), cframe(0x81, []byte("m1"))...))
	require.NoError(t, err)
	assert.Equal(t, "p1", recv(t, pongs, "pong"))
	assert.Equal(t, "p2", recv(t, pongs, "pong"))
	assert.Equal(t, "m1", recv(t, got, "message"))
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout, "idle after pongs and a message")

	// A pong cut across records, then a message.
	p3 := pong("p3")
	_, err = c.Write(p3[:3])
	require.NoError(t, err)
	wrote()
	_, err = c.Write(append(p3[3:], cframe(0x81, []byte("m2"))...))
	require.NoError(t, err)
	assert.Equal(t, "p3", recv(t, pongs, "pong cut across records"))
	assert.Equal(t, "m2", recv(t, got, "message after it"))
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout, "idle again")

	// A pong alone: taken with no message behind it.
	_, err = c.Write(pong("p4"))
	require.NoError(t, err)
	assert.Equal(t, "p4", recv(t, pongs, "lone pong"))
	eventually(t, func() bool { return idleReaders() == before }, waitTimeout, "idle after a lone pong")
	assert.Empty(t, pongs, "each pong seen once")
	assert.Equal(t, 1, hub.Len())
}
