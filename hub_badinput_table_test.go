// TestBadInput: the table of hostile peers (rows in hub_badinput_rows_test.go)
// against a Hub (hub.go, hub_reader.go) and a Broker (broker.go, ssesink.go).

package fanout_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// The hostile inputs the project has met, one row each (the rows are in
// hub_badinput_rows_test.go). Every row runs against a Hub with a Broker
// attached, on a loopback server, while a publisher publishes to topic t
// all along, and two healthy clients of t (a WebSocket one and an SSE one)
// read: the row checks its own clear status or error, and the table then
// checks that the healthy clients received every message published, in
// order, with no gap and nothing else. The attackers join topics t and x:
// they receive the publisher's messages too, and a row that needs one to
// fall behind publishes to x, which the healthy clients never see.

// badRow is one hostile input.
type badRow struct {
	name   string
	opts   func(*fanout.HubOptions) // adjusts the Hub's options (nil: the table's)
	attack func(t *testing.T, e *badEnv)
	closes bool   // the row closes the Hub: the healthy clients get a gap-free prefix, then the end
	bug    string // a library bug, reported: the row is skipped unless FANOUT_KNOWN_BUGS is set
}

// badEnv is one row's Hub and Broker, their servers, and the healthy
// clients.
type badEnv struct {
	hub     *fanout.Hub
	broker  *fanout.Broker
	plain   *server    // TCP connections the poller watches (Linux)
	wrapped *server    // connections wrapped in countingConn: reader goroutines
	sse     *sseServer // the Broker's door on the plain server (path /)
	subs    chan *fanout.Subscriber
	ended   chan badEnd

	ws        *collector   // healthy WebSocket client of t
	sseStream *sseStream   // healthy SSE client of t
	accepted  atomic.Int64 // messages the publisher had accepted
	mustHave  int          // a closing row: messages the healthy clients must have (all accepted before a Shutdown)
}

// badEnd is an OnDisconnect call.
type badEnd struct {
	sub *fanout.Subscriber
	err error
}

// badMaxAhead bounds how far the publisher runs ahead of the healthy
// clients, so that no healthy queue ever fills, however long a row lasts.
const badMaxAhead = 256

func newBadEnv(t *testing.T, adjust func(*fanout.HubOptions)) *badEnv {
	e := &badEnv{subs: make(chan *fanout.Subscriber, 64), ended: make(chan badEnd, 64)}
	onConnect := func(s *fanout.Subscriber) { e.subs <- s }
	onDisconnect := func(s *fanout.Subscriber, err error) {
		select {
		case e.ended <- badEnd{s, err}:
		default:
		}
	}
	opts := &fanout.HubOptions{PingInterval: -1, OnConnect: onConnect, OnDisconnect: onDisconnect}
	if adjust != nil {
		adjust(opts)
	}
	e.hub = fanout.NewHub(opts)
	e.broker = fanout.NewBroker(&fanout.BrokerOptions{Hub: e.hub, Heartbeat: -1, OnConnect: onConnect, OnDisconnect: onDisconnect})
	mux := http.NewServeMux()
	mux.Handle("/ws", e.hub)
	mux.Handle("/", e.broker)
	serve := func(counting bool) *server {
		srv := httptest.NewUnstartedServer(mux)
		s := &server{hub: e.hub, srv: srv}
		if counting {
			ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 64)}
			srv.Listener, s.conns = ln, ln.conns
		}
		srv.Start()
		t.Cleanup(srv.Close)
		return s
	}
	e.plain, e.wrapped = serve(false), serve(true)
	e.sse = &sseServer{broker: e.broker, srv: e.plain.srv}
	t.Cleanup(func() { require.NoError(t, e.hub.Close()) }) // before the servers: they wait for streams

	e.ws = collectCoder(t, dialCoder(t, e.wsURL(e.plain, "topic=t"), nil))
	recv(t, e.subs, "healthy WebSocket client")
	e.sseStream = sseOpen(t, e.sse.url("topic=t"), nil)
	recv(t, e.subs, "healthy SSE client")
	return e
}

// wsURL returns the Hub's URL on s with query.
func (e *badEnv) wsURL(s *server, query string) string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws?" + query
}

// attacker waits for the next subscriber the Hub or Broker connected: the
// attacker's.
func (e *badEnv) attacker(t testing.TB) *fanout.Subscriber {
	t.Helper()
	return recv(t, e.subs, "the attacker's subscriber")
}

// end waits for sub's OnDisconnect and returns its error.
func (e *badEnv) end(t testing.TB, sub *fanout.Subscriber) error {
	t.Helper()
	for {
		d := recv(t, e.ended, "OnDisconnect")
		if d.sub == sub {
			return d.err
		}
	}
}

// publishX publishes n messages of size bytes to topic x, which only the
// attackers joined.
func (e *badEnv) publishX(t testing.TB, n, size int) {
	t.Helper()
	m := fanout.NewMessage([]byte(strings.Repeat("x", size)))
	for range n {
		require.NoError(t, e.hub.Publish(context.Background(), "x", m))
	}
}

// publish runs the table's publisher until stop is closed or the Hub
// closes: message i is num(i) to topic t, never more than badMaxAhead
// ahead of what either healthy client has read.
func (e *badEnv) publish(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if !e.healthyRead(i-badMaxAhead, stop) {
			return // the healthy client ended (the Hub closed), or stop
		}
		if e.hub.Publish(context.Background(), "t", num(i)) != nil {
			return // ErrClosed
		}
		e.accepted.Add(1)
	}
}

// healthyRead waits until both healthy clients have read more than n
// messages; false if one ended first, or stop was closed.
func (e *badEnv) healthyRead(n int, stop <-chan struct{}) bool {
	for e.ws.count() <= n {
		select {
		case <-e.ws.notify:
		case <-e.ws.done:
			return e.ws.count() > n
		case <-stop:
			return false
		}
	}
	for e.sseStream.count() <= n {
		select {
		case <-e.sseStream.notify:
		case <-e.sseStream.done:
			return e.sseStream.count() > n
		case <-stop:
			return false
		}
	}
	return true
}

// awaitAccepted waits until the publisher has had n messages accepted.
func (e *badEnv) awaitAccepted(t testing.TB, n int64) {
	t.Helper()
	eventually(t, func() bool { return e.accepted.Load() >= n }, waitTimeout, "%d messages published", n)
}

// TestBadInput runs every row of badInputs.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, row := range badInputs() {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			if row.bug != "" && os.Getenv("FANOUT_KNOWN_BUGS") == "" {
				t.Skip("known bug, reported (FANOUT_KNOWN_BUGS=1 runs it): " + row.bug)
			}
			e := newBadEnv(t, row.opts)
			stop, done := make(chan struct{}), make(chan struct{})
			var once sync.Once
			halt := func() {
				once.Do(func() { close(stop) })
				<-done
			}
			go e.publish(stop, done)
			t.Cleanup(halt)        // a row that failed: before the Hub's Close
			e.awaitAccepted(t, 10) // under way before the attack

			row.attack(t, e)

			halt()
			n := int(e.accepted.Load())
			if row.closes {
				e.healthyPrefix(t, n)
				return
			}
			require.NoError(t, e.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("end"))))
			want := append(nums(0, n), "end")
			assert.Equal(t, want, texts(e.ws.waitN(t, n+1)), "the healthy WebSocket client")
			assert.Equal(t, want, sseData(e.sseStream.waitN(t, n+1)), "the healthy SSE client")
			assert.Equal(t, 2, e.hub.Len(), "the healthy clients, alone again")
		})
	}
}

// healthyPrefix checks the healthy clients of a row that closed the Hub:
// each was told (1001, going away; the end of the SSE stream) and
// received messages 0, 1, 2, … with no gap, at most the n accepted and at
// least mustHave.
func (e *badEnv) healthyPrefix(t *testing.T, n int) {
	t.Helper()
	assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(e.ws.closeErr(t)), "the healthy WebSocket client: %v", e.ws.closeErr(t))
	evs, _ := e.sseStream.ended(t)
	for name, got := range map[string][]string{"WebSocket": texts(e.ws.snapshot()), "SSE": sseData(evs)} {
		assert.LessOrEqual(t, len(got), n, name)
		assert.GreaterOrEqual(t, len(got), e.mustHave, "%s: lost messages accepted before the Hub was told to stop", name)
		assert.Equal(t, nums(0, len(got)), got, "%s: a gap-free prefix", name)
	}
	t.Logf("%d accepted, %d must have; received %d (WebSocket), %d (SSE)",
		n, e.mustHave, e.ws.count(), len(evs))
}
