package fanout_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// sseServer is a Broker behind a real loopback HTTP server.
type sseServer struct {
	broker *fanout.Broker
	srv    *httptest.Server
	conns  chan *countingConn // accepted connections, when counting
}

// newSSEServer starts a Broker configured by opts on a loopback server.
// The Broker is closed before the server when the test ends: the server's
// Close waits for open streams, which only the Broker ends.
func newSSEServer(t testing.TB, opts *fanout.BrokerOptions) *sseServer {
	t.Helper()
	b := fanout.NewBroker(opts)
	return sseServe(t, b, b, false)
}

// serveH2 serves h (b, or b wrapped) over TLS with HTTP/2 on a loopback
// server; b is closed before the server when the test ends.
func serveH2(t testing.TB, h http.Handler, b *fanout.Broker) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return srv
}

// newSSECountingServer is newSSEServer with every accepted connection
// wrapped in a countingConn, handed out by nextConn in accept order.
func newSSECountingServer(t testing.TB, opts *fanout.BrokerOptions) *sseServer {
	t.Helper()
	b := fanout.NewBroker(opts)
	return sseServe(t, b, b, true)
}

// sseServe serves h (b, or a handler in front of it) on a loopback server.
func sseServe(t testing.TB, b *fanout.Broker, h http.Handler, counting bool) *sseServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	s := &sseServer{broker: b, srv: srv}
	if counting {
		ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 64)}
		srv.Listener, s.conns = ln, ln.conns
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return s
}

// url returns the server's URL with query appended.
func (s *sseServer) url(query string) string {
	if query == "" {
		return s.srv.URL + "/"
	}
	return s.srv.URL + "/?" + query
}

// nextConn returns the server side of the next accepted connection.
func (s *sseServer) nextConn(t testing.TB) *countingConn {
	t.Helper()
	require.NotNil(t, s.conns, "not a counting server")
	return recv(t, s.conns, "accepted connection")
}

// sseStream is one SSE response read by go-sse's parser (sse.Read) on its
// own goroutine until the stream ends.
type sseStream struct {
	resp *http.Response

	mu        sync.Mutex
	events    []sse.Event
	positions []string // the IDs of position events, which events leaves out
	err       error
	done      chan struct{}
	notify    chan struct{} // capacity 1: an event arrived
}

// sseOpen sends a GET to url with header h (may be nil), requires a 200
// text/event-stream response, and reads its events in the background. It
// returns as soon as the response headers arrive. The stream is closed
// when the test ends.
func sseOpen(t testing.TB, url string, h http.Header) *sseStream {
	t.Helper()
	resp := sseGet(t, url, h)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return sseRead(t, resp)
}

// sseGet sends a GET to url with header h and returns the response, whose
// body is closed (and request canceled) when the test ends.
func sseGet(t testing.TB, url string, h http.Header) *http.Response {
	t.Helper()
	return sseDo(t, http.DefaultClient, url, h)
}

// sseDo is sseGet with client.
func sseDo(t testing.TB, client *http.Client, url string, h http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, vs := range h {
		req.Header[k] = vs
	}
	timer := time.AfterFunc(waitTimeout, cancel) // bounds Do, not the stream
	resp, err := client.Do(req)
	timer.Stop()
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
	})
	return resp
}

// sseRead parses resp's body with sse.Read in the background.
func sseRead(t testing.TB, resp *http.Response) *sseStream {
	s := &sseStream{resp: resp, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(s.done)
		for ev, err := range sse.Read(resp.Body, nil) {
			s.mu.Lock()
			switch {
			case err != nil:
				s.err = err
			case ev.Type == fanout.PositionEvent:
				// A new stream's position (with a store, even an empty one).
				s.positions = append(s.positions, ev.LastEventID)
			default:
				s.events = append(s.events, ev)
			}
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = resp.Body.Close()
		<-s.done
	})
	return s
}

// snapshot returns the events received so far.
func (s *sseStream) snapshot() []sse.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sse.Event(nil), s.events...)
}

// count returns how many events arrived.
func (s *sseStream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// waitN waits until at least n events arrived and returns them all; it
// fails at once if the stream ends with fewer.
func (s *sseStream) waitN(t testing.TB, n int) []sse.Event {
	t.Helper()
	var ended bool
	eventually(t, func() bool {
		ended = !isOpen(s.done)
		return len(s.snapshot()) >= n || ended
	}, waitTimeout, "%d events", n)
	evs := s.snapshot()
	require.GreaterOrEqual(t, len(evs), n, "stream ended early: %v", s.readErr())
	return evs
}

// ended waits for the stream to end (EOF: a nil error) and returns every
// event it carried.
func (s *sseStream) ended(t testing.TB) ([]sse.Event, error) {
	t.Helper()
	closedWithin(t, s.done, "end of stream")
	return s.snapshot(), s.readErr()
}

func (s *sseStream) readErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sseData returns the data of each event.
func sseData(evs []sse.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Data
	}
	return out
}

// sseRaw reads a response body, unparsed, in the background.
type sseRaw struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

// sseReadRaw reads resp's body into a buffer until it ends.
func sseReadRaw(t testing.TB, resp *http.Response) *sseRaw {
	r := &sseRaw{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = resp.Body.Close()
		<-r.done
	})
	return r
}

func (r *sseRaw) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// waitFor waits until the body read so far contains sub, and returns it.
func (r *sseRaw) waitFor(t testing.TB, sub string) string {
	t.Helper()
	eventually(t, func() bool { return strings.Contains(r.String(), sub) }, waitTimeout,
		"%q in the stream; got %q", sub, r.String())
	return r.String()
}

// sseConnection is a go-sse Connection (which reconnects by itself, with
// Last-Event-ID) collecting every event it dispatches.
type sseConnection struct {
	mu     sync.Mutex
	events []sse.Event
	err    error
	done   chan struct{}
}

// sseConnect starts a go-sse Connection to url that retries quickly. It
// is stopped when the test ends.
func sseConnect(t testing.TB, url string) *sseConnection {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	client := &sse.Client{Backoff: sse.Backoff{InitialInterval: 5 * time.Millisecond, Multiplier: 1}}
	conn := client.NewConnection(req)
	c := &sseConnection{done: make(chan struct{})}
	conn.SubscribeToAll(func(ev sse.Event) {
		if ev.Type == fanout.PositionEvent {
			return // a new stream's position (see sseRead)
		}
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
	})
	go func() {
		defer close(c.done)
		err := conn.Connect()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

func (c *sseConnection) snapshot() []sse.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sse.Event(nil), c.events...)
}

// waitN waits until at least n events were dispatched and returns them.
func (c *sseConnection) waitN(t testing.TB, n int) []sse.Event {
	t.Helper()
	eventually(t, func() bool { return len(c.snapshot()) >= n || !isOpen(c.done) },
		waitTimeout, "%d events", n)
	evs := c.snapshot()
	require.GreaterOrEqual(t, len(evs), n, "connection gave up: %v", c.err)
	return evs
}

// sseStall opens a raw TCP connection with a tiny receive buffer, sends
// an SSE request for query, and never reads: the server's writes to it
// stall once the kernel buffers are full. It is closed when the test ends.
func sseStall(t testing.TB, s *sseServer, query string) net.Conn {
	t.Helper()
	c := dialTinyBuffer(t, s.srv.Listener.Addr().String())
	_, err := c.Write([]byte("GET /?" + query + " HTTP/1.1\r\nHost: fanout.test\r\n\r\n"))
	require.NoError(t, err)
	return c
}

// sseRawRequest writes req (a complete HTTP/1.1 request) on a new
// connection and returns the response's status and body. It reads while
// writing, so a response that comes before the request is fully sent (a
// refusal of oversized headers) is still read.
func sseRawRequest(t testing.TB, s *sseServer, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.srv.Listener.Addr().String(), waitTimeout)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = c.Write([]byte(req)) // may fail once the server hangs up
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body) // may end early when the server resets the connection
	_ = c.Close()
	<-wrote
	return resp.StatusCode, body.String()
}

// sseHooks records the Broker hooks' calls.
type sseHooks struct {
	connected chan *fanout.Subscriber
	resynced  chan sseResync // every OnResync call, as it returns

	mu           sync.Mutex
	disconnected map[uint64]int // calls per subscriber ID
	resyncs      []sseResync
}

type sseResync struct {
	sub    *fanout.Subscriber
	lastID string
	err    error
}

// newSSEHooks returns hooks to install in opts, which it returns.
func newSSEHooks(opts *fanout.BrokerOptions) *sseHooks {
	h := &sseHooks{
		connected:    make(chan *fanout.Subscriber, 64),
		resynced:     make(chan sseResync, 1024),
		disconnected: make(map[uint64]int),
	}
	opts.OnConnect = func(s *fanout.Subscriber) { h.connected <- s }
	opts.OnDisconnect = func(s *fanout.Subscriber, _ error) {
		h.mu.Lock()
		h.disconnected[s.ID()]++
		h.mu.Unlock()
	}
	opts.OnResync = func(s *fanout.Subscriber, lastID string, err error) {
		r := sseResync{s, lastID, err}
		h.mu.Lock()
		h.resyncs = append(h.resyncs, r)
		h.mu.Unlock()
		h.resynced <- r
	}
	return h
}

// sub returns the next subscriber OnConnect was called with.
func (h *sseHooks) sub(t testing.TB) *fanout.Subscriber {
	t.Helper()
	return recv(t, h.connected, "OnConnect")
}

// disconnects returns how many times OnDisconnect ran for s.
func (h *sseHooks) disconnects(s *fanout.Subscriber) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.disconnected[s.ID()]
}

// resync waits for the next OnResync call, which must be for s: the hook
// runs after OnConnect, and can run after the client has read the resync
// event.
func (h *sseHooks) resync(t testing.TB, s *fanout.Subscriber) sseResync {
	t.Helper()
	r := recv(t, h.resynced, "OnResync")
	require.Same(t, s, r.sub, "OnResync for another subscriber")
	return r
}

// resyncOf returns the OnResync calls made for s so far.
func (h *sseHooks) resyncOf(s *fanout.Subscriber) []sseResync {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sseResync
	for _, r := range h.resyncs {
		if r.sub == s {
			out = append(out, r)
		}
	}
	return out
}
