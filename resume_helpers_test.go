package fanout_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
	"github.com/fanout-go/fanout/internal/testkit/wsrecords"
)

// rsEnv is a Hub and a Broker on one loopback server, sharing a Ring:
// WebSocket on /ws, SSE on /sse. With standalone set, the Broker has the
// Ring to itself and there is no Hub (/ws answers 404).
type rsEnv struct {
	ring   *fanout.Ring
	hub    *fanout.Hub // nil when standalone
	broker *fanout.Broker
	srv    *httptest.Server
	client *http.Client // for SSE requests; its idle connections are closed at the end

	subs    chan *fanout.Subscriber // every OnConnect, both doors
	resyncs chan rsResync           // every OnResync
}

// rsResync is one OnResync call, and which door's hook made it.
type rsResync struct {
	door   string // "hub" or "broker"
	sub    *fanout.Subscriber
	lastID string
	err    error
}

// rsServer starts an rsEnv with a Ring configured by ring (nil: defaults).
// adjust, if set, may change the options before the Hub and Broker are made.
func rsServer(t testing.TB, ring *fanout.RingOptions, standalone bool, adjust func(*fanout.HubOptions, *fanout.BrokerOptions)) *rsEnv {
	t.Helper()
	e := &rsEnv{
		ring:    fanout.NewRing(ring),
		subs:    make(chan *fanout.Subscriber, 1024),
		resyncs: make(chan rsResync, 64),
		client:  &http.Client{Transport: &http.Transport{}},
	}
	onConnect := func(s *fanout.Subscriber) {
		select {
		case e.subs <- s:
		default: // more than a test tracks
		}
	}
	onResync := func(door string) func(*fanout.Subscriber, string, error) {
		return func(s *fanout.Subscriber, lastID string, err error) {
			select {
			case e.resyncs <- rsResync{door: door, sub: s, lastID: lastID, err: err}:
			default: // more than a test tracks; it checks the channel's length
			}
		}
	}
	ho := &fanout.HubOptions{Replay: e.ring, OnConnect: onConnect, OnResync: onResync("hub")}
	bo := &fanout.BrokerOptions{OnConnect: onConnect, OnResync: onResync("broker")}
	if standalone {
		bo.Replay = e.ring
	}
	if adjust != nil {
		adjust(ho, bo)
	}
	mux := http.NewServeMux()
	if !standalone {
		e.hub = fanout.NewHub(ho)
		bo.Hub = e.hub
		mux.Handle("/ws", e.hub)
	}
	e.broker = fanout.NewBroker(bo)
	mux.Handle("/sse", e.broker)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.client.CloseIdleConnections)
	t.Cleanup(func() { require.NoError(t, e.close()) }) // before the server: it waits for open streams
	return e
}

// close closes the Hub (which closes the Broker attached to it) or the
// standalone Broker. Idempotent.
func (e *rsEnv) close() error {
	if e.hub != nil {
		return e.hub.Close()
	}
	return e.broker.Close()
}

// publish publishes a text message to topic through the Hub, or the
// Broker when standalone.
func (e *rsEnv) publish(t testing.TB, topic, data string) {
	t.Helper()
	m := fanout.NewMessage([]byte(data))
	if e.hub != nil {
		require.NoError(t, e.hub.Publish(context.Background(), topic, m))
	} else {
		require.NoError(t, e.broker.Publish(context.Background(), topic, m))
	}
}

// rsURL returns base+path with the query made of topics and, when lastID
// is set and viaQuery, lastEventId.
func rsURL(base, path string, topics []string, lastID string, viaQuery bool) string {
	q := url.Values{}
	for _, t := range topics {
		q.Add("topic", t)
	}
	if lastID != "" && viaQuery {
		q.Set("lastEventId", lastID)
	}
	return base + path + "?" + q.Encode()
}

// rsRecord is one message as a client received it, from either transport.
type rsRecord struct {
	id     string // SSE: the event's LastEventID; WebSocket: the ID record, or "" without one
	event  string // SSE event type; WebSocket: the event type record (v2), or ""
	topic  string // WebSocket: the topic record (v2), or ""
	data   string
	binary bool // a WebSocket binary frame or record
	resync bool // SSE: a ResyncEvent; WebSocket: a resync record
	// position: a new stream's position, an ID and no message (SSE: an
	// event with an id field alone, which go-sse reports with empty data;
	// these tests publish no empty message, so that tells it apart).
	position bool
	raw      bool // WebSocket: an ordinary frame, not a packed one
}

// rsFeed is a client's incoming records, read on their own goroutine
// until the connection ends or stop is called.
type rsFeed struct {
	ch   chan rsRecord
	done chan struct{}
	stop func()

	mu  sync.Mutex
	err error
}

func newRSFeed(stop func(), read func(emit func(rsRecord)) error) *rsFeed {
	f := &rsFeed{ch: make(chan rsRecord, 4096), done: make(chan struct{}), stop: stop}
	go func() {
		defer close(f.done)
		err := read(func(r rsRecord) { f.ch <- r })
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
	}()
	return f
}

// next returns the next record that is not a position (a new stream with
// a store starts with one, even before anything is published), failing t
// if none comes in time or the connection ends first.
func (f *rsFeed) next(t testing.TB) rsRecord {
	t.Helper()
	for {
		if r := f.nextRecord(t); !r.position {
			return r
		}
	}
}

// nextRecord returns the next record, position records included.
func (f *rsFeed) nextRecord(t testing.TB) rsRecord {
	t.Helper()
	select {
	case r := <-f.ch:
		return r
	default:
	}
	select {
	case r := <-f.ch:
		return r
	case <-f.done:
		select {
		case r := <-f.ch:
			return r
		default:
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Fatalf("connection ended before the next record: %v", f.err)
	case <-time.After(waitTimeout):
		t.Fatalf("no record within %v", waitTimeout)
	}
	panic("unreachable")
}

// take returns the next n records that are not positions.
func (f *rsFeed) take(t testing.TB, n int) []rsRecord {
	t.Helper()
	out := make([]rsRecord, n)
	for i := range out {
		out[i] = f.next(t)
	}
	return out
}

// close stops the client and waits for its reader.
func (f *rsFeed) close() {
	f.stop()
	<-f.done
}

// rsOpenSSE opens an SSE stream of e's Broker for topics, resuming after
// lastID (as a Last-Event-ID header, or the lastEventId query parameter
// with viaQuery), and reads it with go-sse's parser. The stream is
// subscribed when it returns (the Broker flushes its headers then). It is
// closed when the test ends.
func (e *rsEnv) rsOpenSSE(t testing.TB, topics []string, lastID string, viaQuery bool) *rsFeed {
	t.Helper()
	return rsOpenSSEURL(t, e.client, rsURL(e.srv.URL, "/sse", topics, lastID, viaQuery), lastID, !viaQuery)
}

// rsOpenSSEURL opens an SSE stream at u (see rsOpenSSE), sending lastID as
// a Last-Event-ID header when header is set.
func rsOpenSSEURL(t testing.TB, client *http.Client, u, lastID string, header bool) *rsFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	if header && lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		cancel()
		t.Fatalf("SSE status %d: %s", resp.StatusCode, body)
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	f := newRSFeed(func() { cancel(); _ = resp.Body.Close() }, func(emit func(rsRecord)) error {
		for ev, err := range sse.Read(resp.Body, &sse.ReadConfig{MaxEventSize: 16 << 20}) {
			if err != nil {
				return err
			}
			emit(rsRecord{id: ev.LastEventID, event: ev.Type, data: ev.Data, resync: ev.Type == fanout.ResyncEvent,
				position: ev.Type == fanout.PositionEvent})
		}
		return io.EOF
	})
	t.Cleanup(f.close)
	return f
}

// rsOpenWS dials e's Hub for topics, offering subprotocols, resuming after
// lastID (query parameter with viaQuery, else a Last-Event-ID header). The
// client is subscribed when it returns. It is closed when the test ends.
func (e *rsEnv) rsOpenWS(t testing.TB, topics []string, lastID string, viaQuery bool, subprotocols ...string) *rsFeed {
	t.Helper()
	opts := &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: http.Header{}}
	if lastID != "" && !viaQuery {
		opts.HTTPHeader.Set("Last-Event-ID", lastID)
	}
	u := "ws" + strings.TrimPrefix(rsURL(e.srv.URL, "/ws", topics, lastID, viaQuery), "http")
	conn := dialCoder(t, u, opts)
	f := newRSFeed(func() { _ = conn.CloseNow() }, func(emit func(rsRecord)) error {
		return rsReadWS(context.Background(), conn, func(r rsRecord) bool { emit(r); return true })
	})
	t.Cleanup(f.close)
	return f
}

// rsReadWS reads conn until it fails or fn returns false, handing fn each
// record: those of packed frames (the resume and packed subprotocols), or
// one per ordinary frame.
func rsReadWS(ctx context.Context, conn *websocket.Conn, fn func(rsRecord) bool) error {
	packed := wsrecords.Packed(conn)
	return wsrecords.Read(ctx, conn, packed, func(r fanout.Record) bool {
		return fn(rsRecord{id: r.ID, event: r.Event, topic: r.Topic, data: string(r.Data), binary: r.Type == fanout.Binary,
			resync: r.Resync, position: r.Position, raw: !packed})
	})
}

// RecordID, IsPosition and ResyncData make an rsRecord a testkit.Record.
func (r rsRecord) RecordID() string                   { return r.id }
func (r rsRecord) IsPosition() bool                   { return r.position }
func (r rsRecord) ResyncData() (data string, ok bool) { return r.data, r.resync }

// rsPropClient is one client of TestResume_Property: it records every
// message it receives (its Received checks each as it comes) and goes away
// at random points, each time coming back with the last ID it received.
type rsPropClient struct {
	testkit.Received[rsRecord]
	name   string
	kind   rsKind
	topics []string
	env    *rsEnv
	rng    *rand.Rand // the client's goroutine only
	budget int        // a connection lasts 1..budget records on the client's side

	drops   atomic.Int32 // disconnects the client chose
	retries int          // reconnections go-sse's Client made by itself
}

// run connects and reconnects until ctx ends, or until something goes
// wrong that the test will report.
func (c *rsPropClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		last := c.LastID()
		budget := 1 + c.rng.IntN(c.budget)
		viaQuery := c.rng.IntN(2) == 0
		var err error
		switch c.kind {
		case rsWS:
			err = c.sessionWS(ctx, last, budget, viaQuery)
		case rsSSEClient:
			err = c.sessionSSEClient(ctx, last, budget, viaQuery)
		case rsSSERaw:
			err = c.sessionSSERaw(ctx, last, budget, viaQuery)
		}
		if err != nil && ctx.Err() == nil {
			c.Problem("%s session resuming from %q: %v", c.kind, last, err)
			return
		}
	}
}

// count hands r to the client and reports whether the connection may go
// on: false once budget records (positions aside) came over it.
func (c *rsPropClient) count(r rsRecord, n *int, budget int) bool {
	c.Add(r)
	if r.position {
		return true
	}
	*n++
	if *n >= budget {
		c.drops.Add(1)
		return false
	}
	return true
}

func (c *rsPropClient) sessionWS(ctx context.Context, last string, budget int, viaQuery bool) error {
	opts := &websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}, HTTPHeader: http.Header{}}
	if last != "" && !viaQuery {
		opts.HTTPHeader.Set("Last-Event-ID", last)
	}
	u := "ws" + strings.TrimPrefix(rsURL(c.env.srv.URL, "/ws", c.topics, last, viaQuery)+"&client="+c.kind.String(), "http")
	conn, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return err
	}
	defer func() { _ = conn.CloseNow() }()
	conn.SetReadLimit(-1)
	if p := conn.Subprotocol(); p != fanout.ResumeSubprotocol {
		return fmt.Errorf("negotiated subprotocol %q", p)
	}
	n := 0
	_ = rsReadWS(ctx, conn, func(r rsRecord) bool { return c.count(r, &n, budget) })
	return nil // the client left, or the server ended the connection: resume
}

// request returns the SSE request resuming from last.
func (c *rsPropClient) request(ctx context.Context, last string, viaQuery bool) (*http.Request, error) {
	u := rsURL(c.env.srv.URL, "/sse", c.topics, last, viaQuery) + "&client=" + c.kind.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err == nil && last != "" && !viaQuery {
		req.Header.Set("Last-Event-ID", last)
	}
	return req, err
}

func (c *rsPropClient) sessionSSERaw(ctx context.Context, last string, budget int, viaQuery bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.request(ctx, last, viaQuery)
	if err != nil {
		return err
	}
	resp, err := c.env.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	n := 0
	for ev, err := range sse.Read(resp.Body, nil) {
		if err != nil {
			break // the connection failed: resume
		}
		if !c.count(rsRecord{id: ev.LastEventID, event: ev.Type, data: ev.Data, resync: ev.Type == fanout.ResyncEvent,
			position: ev.Type == fanout.PositionEvent}, &n, budget) {
			break
		}
	}
	return nil
}

// sessionSSEClient runs one go-sse Connection, which reconnects by itself
// (sending Last-Event-ID) whenever the server ends the stream, until the
// client has taken budget records and goes away.
func (c *rsPropClient) sessionSSEClient(ctx context.Context, last string, budget int, viaQuery bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.request(ctx, last, viaQuery)
	if err != nil {
		return err
	}
	client := &sse.Client{
		HTTPClient: c.env.client,
		Backoff:    sse.Backoff{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond},
		OnRetry:    func(error, time.Duration) { c.retries++ }, // on Connect's goroutine
	}
	conn := client.NewConnection(req)
	n, stopped := 0, false
	conn.SubscribeToAll(func(ev sse.Event) { // on Connect's goroutine
		if stopped {
			return // already parsed when the client decided to leave
		}
		if !c.count(rsRecord{id: ev.LastEventID, event: ev.Type, data: ev.Data, resync: ev.Type == fanout.ResyncEvent,
			position: ev.Type == fanout.PositionEvent}, &n, budget) {
			stopped = true
			cancel()
		}
	})
	if err := conn.Connect(); !stopped && ctx.Err() == nil {
		return fmt.Errorf("go-sse Connect gave up: %w", err)
	}
	return nil
}

// ringSince returns what ring holds after the message whose ID is id, on
// topics or broadcast: what a client resuming from id must receive.
func ringSince(ctx context.Context, ring *fanout.Ring, id string, topics []string) ([]*fanout.Message, error) {
	from, err := fanout.ParseID(id)
	if err != nil {
		return nil, err
	}
	msgs, _, err := ring.Read(ctx, from, topics)
	return msgs, err
}
