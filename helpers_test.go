package fanout_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
)

// waitTimeout bounds every wait in the suite. It is a deadline against
// hangs, never a performance assertion: on a loaded machine conditions are
// usually met in milliseconds, and only a bug makes a test reach it.
const waitTimeout = 15 * time.Second

// eventually polls cond until it holds, failing t if it does not within
// timeout. It must run on the test goroutine.
func eventually(t testing.TB, cond func() bool, timeout time.Duration, format string, args ...any) {
	t.Helper()
	testkit.Eventually(t, timeout, cond, format, args...)
}

// recv receives one value from ch, failing t if none arrives in time.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return testkit.Recv(t, ch, waitTimeout, what)
}

// closedWithin fails t unless ch is closed (or yields) in time.
func closedWithin(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	testkit.ClosedWithin(t, ch, waitTimeout, what)
}

// isOpen reports whether ch is still open (not yet closed).
func isOpen(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// server is a Hub behind a real loopback HTTP server.
type server struct {
	hub   *fanout.Hub
	srv   *httptest.Server
	conns chan *countingConn // accepted connections, when counting
}

// newServer starts a Hub configured by opts on a loopback server. Both are
// closed when the test ends (after the test's clients, which register
// their cleanups later).
func newServer(t testing.TB, opts *fanout.HubOptions) *server {
	t.Helper()
	hub := fanout.NewHub(opts)
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	return &server{hub: hub, srv: srv}
}

// serveBoth serves hub at /ws and broker (attached to it) at /sse on a
// loopback server. The Hub (and with it the Broker) is closed before the
// server when the test ends: the server's Close waits for open streams.
func serveBoth(t testing.TB, hub *fanout.Hub, broker *fanout.Broker) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/sse", broker)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	return srv
}

// newCountingServer is newServer with every accepted connection wrapped in
// a countingConn, handed to the test through nextConn in accept order.
// Because the wrapped connection is not a *net.TCPConn, the Hub writes
// each batch with exactly one Write call.
func newCountingServer(t testing.TB, opts *fanout.HubOptions) *server {
	t.Helper()
	hub := fanout.NewHub(opts)
	srv := httptest.NewUnstartedServer(hub)
	ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 64)}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	return &server{hub: hub, srv: srv, conns: ln.conns}
}

// url returns the WebSocket URL of the server with query appended.
func (s *server) url(query string) string {
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/"
	if query != "" {
		u += "?" + query
	}
	return u
}

// nextConn returns the server side of the next accepted connection. Tests
// dial one client at a time, so it belongs to the client dialed last.
func (s *server) nextConn(t testing.TB) *countingConn {
	t.Helper()
	require.NotNil(t, s.conns, "not a counting server")
	return recv(t, s.conns, "accepted connection")
}

// msg is one message as a client received it.
type msg struct {
	binary bool
	data   []byte
}

func (m msg) String() string { return string(m.data) }

// collector reads every message a client receives, on its own goroutine,
// until the connection fails or closes.
type collector struct {
	mu     sync.Mutex
	msgs   []msg
	err    error
	done   chan struct{}
	notify chan struct{} // capacity 1: a message arrived
}

func newCollector(read func() (msg, error)) *collector {
	c := &collector{done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(c.done)
		for {
			m, err := read()
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			select {
			case c.notify <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// awaitMore blocks until more than n messages have arrived, and reports
// false if the connection ended first. Unlike waitN it may run on any
// goroutine; it has no deadline of its own, so the connection must be
// closed (the test's cleanup does) to release it.
func (c *collector) awaitMore(n int) bool {
	for {
		if c.count() > n {
			return true
		}
		select {
		case <-c.notify:
		case <-c.done:
			return c.count() > n
		}
	}
}

func (c *collector) snapshot() []msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]msg(nil), c.msgs...)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// waitN waits until at least n messages arrived and returns them all. It
// fails t at once if the connection ends with fewer.
func (c *collector) waitN(t testing.TB, n int) []msg {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		got, err := len(c.msgs), c.err
		c.mu.Unlock()
		if got >= n {
			return c.snapshot()
		}
		if !isOpen(c.done) {
			t.Fatalf("connection ended after %d of %d messages: %v", got, n, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages within %v", got, n, waitTimeout)
		}
		<-tick.C
	}
}

// closeErr waits until the connection has ended and returns the read error
// that ended it.
func (c *collector) closeErr(t testing.TB) error {
	t.Helper()
	closedWithin(t, c.done, "connection end")
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// dialCoder connects a coder/websocket client, without a read limit. It is
// closed when the test ends.
func dialCoder(t testing.TB, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	require.NoError(t, err)
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// dialStatus attempts a WebSocket handshake that must fail, and returns the
// HTTP response it got.
func dialStatus(t testing.TB, url string, h http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		_ = c.CloseNow()
		t.Fatalf("handshake succeeded, want a refusal")
	}
	require.NotNil(t, resp, "no HTTP response: %v", err)
	return resp
}

// collectCoder reads c in the background until the test ends.
func collectCoder(t testing.TB, c *websocket.Conn) *collector {
	col := newCollector(func() (msg, error) {
		typ, b, err := c.Read(context.Background())
		return msg{binary: typ == websocket.MessageBinary, data: b}, err
	})
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-col.done
	})
	return col
}

// dialGorilla connects a gorilla/websocket client (d nil: default dialer).
// It is closed when the test ends.
func dialGorilla(t testing.TB, url string, d *gws.Dialer) *gws.Conn {
	t.Helper()
	if d == nil {
		d = &gws.Dialer{HandshakeTimeout: waitTimeout}
	}
	c, resp, err := d.Dial(url, nil)
	require.NoError(t, err)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// collectGorilla reads c in the background until the test ends.
func collectGorilla(t testing.TB, c *gws.Conn) *collector {
	col := newCollector(func() (msg, error) {
		typ, b, err := c.ReadMessage()
		return msg{binary: typ == gws.BinaryMessage, data: b}, err
	})
	t.Cleanup(func() {
		_ = c.Close()
		<-col.done
	})
	return col
}

// connectHook returns an OnConnect hook and the channel it hands each new
// Subscriber to, so a test knows when a subscriber is registered.
func connectHook() (func(*fanout.Subscriber), chan *fanout.Subscriber) {
	ch := make(chan *fanout.Subscriber, 64)
	return func(s *fanout.Subscriber) { ch <- s }, ch
}

// num returns a text message whose payload is i in decimal.
func num(i int) *fanout.Message { return fanout.NewMessage([]byte(strconv.Itoa(i))) }

// nums returns the strings "from".."to-1".
func nums(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// texts returns the payloads of ms as strings.
func texts(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.data)
	}
	return out
}

// closeStatus returns the WebSocket close status carried by err, from
// either client library, or -1.
func closeStatus(err error) int {
	if s := websocket.CloseStatus(err); s != -1 {
		return int(s)
	}
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// stalledDialer returns a gorilla dialer whose connections have a small
// kernel receive buffer, so a client that never reads stalls the server's
// writes after a few kilobytes.
func stalledDialer() *gws.Dialer {
	return &gws.Dialer{
		HandshakeTimeout: waitTimeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096)
			}
			return c, nil
		},
	}
}

// stalled is a coder client whose Hub writer is held inside a socket
// write (see stallOne).
type stalled struct {
	sub     *fanout.Subscriber
	client  *websocket.Conn
	col     *collector
	conn    *countingConn
	release func()
}

// stallOne connects a coder client to a counting server and holds the
// Hub's writer for it inside the socket write of message 0 (sent with
// Subscriber.Send), so what is published next piles up in the
// subscriber's queue. The client itself keeps reading; release lets the
// writer go on.
func stallOne(t *testing.T, s *server, subs <-chan *fanout.Subscriber, query string) *stalled {
	t.Helper()
	client := dialCoder(t, s.url(query), nil)
	col := collectCoder(t, client)
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")
	entered, release := cc.hold()
	t.Cleanup(release)
	require.NoError(t, sub.Send(num(0)))
	closedWithin(t, entered, "writer blocked in its write")
	return &stalled{sub: sub, client: client, col: col, conn: cc, release: release}
}

// slowRecorder is an OnSlow hook that records every SlowEvent it sees.
// choose picks the policy; nil keeps the configured one.
type slowRecorder struct {
	choose func(fanout.SlowEvent) fanout.Policy

	mu     sync.Mutex
	events []fanout.SlowEvent
}

func (r *slowRecorder) hook(ev fanout.SlowEvent) fanout.Policy {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.choose != nil {
		return r.choose(ev)
	}
	return ev.Policy
}

// list returns a copy of the events recorded so far.
func (r *slowRecorder) list() []fanout.SlowEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// queueBehindHeldWrite publishes ms[0] to topic "t" with the subscriber's
// writer held inside its socket write (on cc), then ms[1:], which queue up
// behind it. release lets the writer go on.
func queueBehindHeldWrite(t *testing.T, s *server, cc *countingConn, sub *fanout.Subscriber, ms ...*fanout.Message) (release func()) {
	t.Helper()
	entered, release := cc.hold()
	t.Cleanup(release)
	require.NoError(t, s.hub.Publish(context.Background(), "t", ms[0]))
	closedWithin(t, entered, "writer inside its write")
	for _, m := range ms[1:] {
		require.NoError(t, s.hub.Publish(context.Background(), "t", m))
	}
	require.Equal(t, len(ms)-1, sub.QueueLen(), "messages queued behind the held write")
	return release
}

// numbered returns messages num(0) .. num(n-1).
func numbered(n int) []*fanout.Message {
	ms := make([]*fanout.Message, n)
	for i := range ms {
		ms[i] = num(i)
	}
	return ms
}
