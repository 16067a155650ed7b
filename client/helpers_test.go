package client_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
	"github.com/fanout-go/fanout/internal/testkit"
)

// patience bounds every wait for a condition: a test that needs it has
// failed. It is no timing assertion: on a slow machine, tests take longer,
// not fail.
const patience = 30 * time.Second

// server is a Hub, with a Broker attached to it, behind one real loopback
// server: WebSocket at /ws, SSE at /events. Its Hub can be replaced on the
// same address (a restart), and its connections cut (see cutListener).
type server struct {
	t      *testing.T
	http   *httptest.Server
	ln     *cutListener
	subs   chan *fanout.Subscriber // each subscriber, once connected
	protos chan string             // each request's protocol (HTTP/1.1, HTTP/2.0)

	mu        sync.Mutex
	hub       *fanout.Hub
	broker    *fanout.Broker
	heartbeat time.Duration // the next install's BrokerOptions.Heartbeat; 0: none
}

// storeOptions are the Hub options of most tests: a Ring, and no pings
// (no frame a test did not publish).
func storeOptions() *fanout.HubOptions {
	return &fanout.HubOptions{Replay: fanout.NewRing(&fanout.RingOptions{Size: 1 << 14}), PingInterval: -1}
}

// newServer starts a server whose Hub is configured by opts (see
// storeOptions). It is closed when the test ends.
func newServer(t *testing.T, opts *fanout.HubOptions) *server {
	t.Helper()
	return startServer(t, opts, false)
}

// newTLSServer is newServer over TLS, with HTTP/2 enabled; its client
// (HTTPClient) trusts it.
func newTLSServer(t *testing.T, opts *fanout.HubOptions) *server {
	t.Helper()
	return startServer(t, opts, true)
}

func startServer(t *testing.T, opts *fanout.HubOptions, tls bool) *server {
	s := &server{t: t, subs: make(chan *fanout.Subscriber, 1024), protos: make(chan string, 1024)}
	s.install(opts)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ln = &cutListener{Listener: hs.Listener, cuts: make(chan struct{}, 64)}
	hs.Listener = s.ln
	if tls {
		hs.EnableHTTP2 = true
		hs.StartTLS()
		t.Cleanup(hs.Client().CloseIdleConnections)
	} else {
		hs.Start()
	}
	s.http = hs
	t.Cleanup(func() {
		_ = s.current().Close() // closes its Broker too
		hs.Close()
	})
	return s
}

// install makes a new Hub (and Broker) serve the server's requests, and
// returns the Hub it replaces (nil for the first).
func (s *server) install(opts *fanout.HubOptions) *fanout.Hub {
	o := *opts
	connected := o.OnConnect
	o.OnConnect = func(sub *fanout.Subscriber) {
		if connected != nil {
			connected(sub)
		}
		s.subs <- sub
	}
	hub := fanout.NewHub(&o)
	s.mu.Lock()
	defer s.mu.Unlock()
	heartbeat := s.heartbeat
	if heartbeat == 0 {
		heartbeat = -1
	}
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub, Heartbeat: heartbeat, OnConnect: o.OnConnect, Authorize: o.Authorize})
	old := s.hub
	s.hub, s.broker = hub, broker
	return old
}

func (s *server) current() *fanout.Hub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hub
}

func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hub, broker := s.hub, s.broker
	s.mu.Unlock()
	select {
	case s.protos <- r.Proto:
	default:
	}
	switch r.URL.Path {
	case "/ws":
		hub.ServeHTTP(w, r)
	case "/events":
		broker.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// wsURL and sseURL are the URLs of topic's stream over each transport.
func (s *server) wsURL(topic string) string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http") + "/ws?topic=" + topic
}

func (s *server) sseURL(topic string) string { return s.http.URL + "/events?topic=" + topic }

// publish publishes the messages numbered from to to (their data is their
// number) to topic.
func (s *server) publish(topic string, from, to int) {
	s.t.Helper()
	hub := s.current()
	for i := from; i <= to; i++ {
		if err := hub.Publish(context.Background(), topic, fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
			s.t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// subscriber waits for the next subscriber to connect.
// positionWritten waits until the writer of sub, a new stream, has taken
// its position: a cut before that would leave the client nothing to
// resume from.
func positionWritten(t testing.TB, sub *fanout.Subscriber) {
	t.Helper()
	testkit.Eventually(t, patience, func() bool { return sub.QueueLen() == 0 }, "the position written")
}

func (s *server) subscriber() *fanout.Subscriber {
	s.t.Helper()
	return testkit.Recv(s.t, s.subs, patience, "subscriber connected")
}

// cutListener wraps a server's listener so that a test can cut a
// connection in the middle of what the server writes, as a failing
// network or a proxy does.
type cutListener struct {
	net.Listener
	armed atomic.Bool
	cuts  chan struct{} // a value per cut

	pings    atomic.Int64 // writes that start with a WebSocket ping frame
	comments atomic.Int64 // writes that start with an SSE comment (a heartbeat)
	mu       sync.Mutex
	conns    []*cutConn
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &cutConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

// hush makes every connection open now swallow what the server writes
// from now on, as a connection whose peer (or path) died without a word
// does: the server's writes succeed, and the client hears nothing.
// Connections accepted later are not hushed.
func (l *cutListener) hush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.hushed.Store(true)
	}
}

// arm makes the next write of two bytes or more, on any connection, stop
// halfway: its first half is sent, then the connection is reset (RST). A
// write is at least one frame's part (a Hub writes each batch whole, in
// one write, through a wrapped connection), so the cut falls inside a
// frame or an event.
func (l *cutListener) arm() { l.armed.Store(true) }

// waitCut waits for the cut that arm prepared.
func (l *cutListener) waitCut(t *testing.T) {
	t.Helper()
	testkit.ClosedWithin(t, l.cuts, patience, "a connection cut")
}

var errCut = errors.New("test: connection cut")

type cutConn struct {
	net.Conn
	l      *cutListener
	hushed atomic.Bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.hushed.Load() {
		return len(p), nil
	}
	switch {
	case len(p) > 0 && p[0] == 0x89: // FIN, ping
		c.l.pings.Add(1)
	case bytes.Contains(p, []byte("keepalive")): // the Broker's heartbeat comment
		c.l.comments.Add(1)
	}
	if len(p) >= 2 && c.l.armed.CompareAndSwap(true, false) {
		n, _ := c.Conn.Write(p[:len(p)/2])
		if tc, ok := c.Conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Conn.Close()
		c.l.cuts <- struct{}{}
		return n, errCut
	}
	return c.Conn.Write(p)
}

// NetConn and SetWriteBuffer let the Hub reach the TCP connection for
// SO_LINGER and SO_SNDBUF, as it does through *tls.Conn.
func (c *cutConn) NetConn() net.Conn { return c.Conn }

func (c *cutConn) SetWriteBuffer(n int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetWriteBuffer(n)
	}
	return nil
}

// events records what a client's hooks report, for tests to wait on.
type events struct {
	connects chan string // each connection's subprotocol
	retries  chan error  // why each connection ended (or attempt failed)
}

// hook sets o's OnConnect and OnRetry to record into a new events.
func hook(o *client.Options) *events {
	e := &events{connects: make(chan string, 1024), retries: make(chan error, 1024)}
	o.OnConnect = func(_, subprotocol string) { e.connects <- subprotocol }
	o.OnRetry = func(err error, _ time.Duration) { e.retries <- err }
	return e
}

// connected waits for the next connection and returns its subprotocol.
func (e *events) connected(t *testing.T) string {
	t.Helper()
	return testkit.Recv(t, e.connects, patience, "connection of the client")
}

// retried waits for the next reconnection's cause.
func (e *events) retried(t *testing.T) error {
	t.Helper()
	return testkit.Recv(t, e.retries, patience, "retry of the client")
}

// dial returns a client of u, closed when the test ends. Tests reconnect
// quickly: they wait for conditions, never for time.
func dial(t *testing.T, u string, o *client.Options) *client.Client {
	t.Helper()
	if o == nil {
		o = &client.Options{}
	}
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = time.Millisecond, 10*time.Millisecond
	}
	c, err := client.New(u, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// reader calls Next on its own goroutine, so that a test can publish,
// cut and wait while the client keeps reading: it buffers up to
// readerBuffer results.
type reader struct {
	t    *testing.T
	out  chan result
	stop chan struct{}
	done chan struct{}
}

const readerBuffer = 1 << 14

type result struct {
	m   client.Message
	err error
}

// startReader reads c until it stops; it ends with the test (after c is
// closed).
func startReader(t *testing.T, c *client.Client) *reader {
	r := &reader{t: t, out: make(chan result, readerBuffer), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			m, err := c.Next(context.Background())
			select {
			case r.out <- result{m, err}:
			case <-r.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		close(r.stop)
		<-r.done
	})
	return r
}

// next returns the next message, failing the test on an error.
func (r *reader) next() client.Message {
	r.t.Helper()
	res := r.result()
	if res.err != nil {
		r.t.Fatalf("Next: %v", res.err)
	}
	return res.m
}

// result returns what the next call to Next returned.
func (r *reader) result() result {
	r.t.Helper()
	return testkit.Recv(r.t, r.out, patience, "result of Next")
}

// numbers reads messages until it has n that are not resyncs, and returns
// their data as numbers, failing on a resync or an error.
func (r *reader) numbers(n int) []int {
	r.t.Helper()
	got := make([]int, 0, n)
	for len(got) < n {
		m := r.next()
		if m.Resync {
			r.t.Fatalf("after %v: an unexpected resync (%s)", got, m.Data)
		}
		i, err := strconv.Atoi(string(m.Data))
		if err != nil {
			r.t.Fatalf("message %q: %v", m.Data, err)
		}
		got = append(got, i)
	}
	return got
}

// checkSequence fails unless got is from, from+1, ..., to: nothing
// missing, nothing twice, in order.
func checkSequence(t *testing.T, got []int, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("got %d messages, want %d (%d to %d): %v", len(got), to-from+1, from, to, got)
	}
	for i, n := range got {
		if n != from+i {
			t.Fatalf("message %d is %d, want %d: %v", i, n, from+i, got)
		}
	}
}
