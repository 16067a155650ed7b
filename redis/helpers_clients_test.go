package redis_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
	"github.com/fanout-go/fanout/internal/testkit/wsrecords"
)

// kind is how a test client connects.
type kind int

const (
	kindWS        kind = iota // coder/websocket with ResumeSubprotocol; reconnects itself, to another node
	kindSSEClient             // go-sse's Client: reconnects by itself when the server ends the stream
	kindSSERaw                // a plain request read with sse.Read; reconnects itself, to another node
	kindWSPlain               // coder/websocket without subprotocol: no IDs, so one connection for the whole run
)

func (k kind) String() string {
	return [...]string{"ws", "sse-client", "sse-raw", "ws-plain"}[k]
}

// record is one message as a client received it.
type record struct {
	id       string
	data     string
	resync   bool
	position bool // a new stream's position: an ID and no message
}

// client is one client of the property tests: it records what it
// receives and, unless it is plain, goes away at random points and comes
// back to a random other node with the last ID it received.
type client struct {
	name   string
	kind   kind
	topics []string
	nodes  []*node
	rng    *rand.Rand // the client's goroutine only
	budget int        // a connection lasts 1..budget records on the client's side
	http   *http.Client

	subscribed atomic.Bool // its first stream is subscribed
	testkit.Received[record]

	mu       sync.Mutex
	node     int // the node it is connected to
	sessions int
}

func (r record) RecordID() string           { return r.id }
func (r record) IsPosition() bool           { return r.position }
func (r record) ResyncData() (string, bool) { return r.data, r.resync }

// pickNode returns a random live node other than the current one (the
// current one when it is the only one alive).
func (c *client) pickNode() (*node, error) {
	var alive []int
	for i, n := range c.nodes {
		if n.alive.Load() && i != c.node {
			alive = append(alive, i)
		}
	}
	if len(alive) == 0 {
		if c.nodes[c.node].alive.Load() {
			return c.nodes[c.node], nil
		}
		return nil, errNoNode
	}
	i := alive[c.rng.IntN(len(alive))]
	c.mu.Lock()
	c.node = i
	c.sessions++
	c.mu.Unlock()
	return c.nodes[i], nil
}

// run connects and reconnects until ctx ends, or something goes wrong
// that the test reports.
func (c *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		last := c.LastID()
		budget := 1 + c.rng.IntN(c.budget)
		viaQuery := c.rng.IntN(2) == 0
		n, err := c.pickNode()
		if err == nil {
			switch c.kind {
			case kindWS:
				err = c.sessionWS(ctx, n, last, budget, viaQuery, fanout.ResumeSubprotocol)
			case kindWSPlain:
				err = c.sessionWS(ctx, n, "", 0, false)
			case kindSSEClient:
				err = c.sessionSSEClient(ctx, n, last, budget, viaQuery)
			case kindSSERaw:
				err = c.sessionSSERaw(ctx, n, last, budget, viaQuery)
			}
		}
		if err != nil && ctx.Err() == nil {
			c.Problem("%s session on %s resuming from %q: %v", c.kind, n.name, last, err)
			return
		}
	}
}

// count hands r to the client and reports whether the connection may go
// on: false once budget records came over it (budget 0: no limit).
func (c *client) count(r record, n *int, budget int) bool {
	c.subscribed.Store(true)
	c.Add(r)
	*n++
	return budget == 0 || *n < budget
}

// endpoint returns n's URL for path with the client's topics and, when
// viaQuery, lastEventId.
func (c *client) endpoint(n *node, path, last string, viaQuery bool) string {
	q := url.Values{"topic": c.topics}
	if last != "" && viaQuery {
		q.Set("lastEventId", last)
	}
	return n.url + path + "?" + q.Encode()
}

func (c *client) sessionWS(ctx context.Context, n *node, last string, budget int, viaQuery bool, subprotocols ...string) error {
	opts := &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: http.Header{}}
	if last != "" && !viaQuery {
		opts.HTTPHeader.Set("Last-Event-ID", last)
	}
	u := "ws" + strings.TrimPrefix(c.endpoint(n, "/ws", last, viaQuery), "http")
	conn, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		if c.kind == kindWSPlain {
			return err
		}
		pause(ctx) // the node may be going away, or refusing (503) during a fault: try another
		return nil
	}
	defer func() { _ = conn.CloseNow() }()
	conn.SetReadLimit(-1)
	c.subscribed.Store(true) // the Hub subscribes before the handshake completes
	got := 0
	packed := conn.Subprotocol() == fanout.ResumeSubprotocol
	err = wsrecords.Read(ctx, conn, packed, func(r fanout.Record) bool {
		return c.count(record{id: r.ID, data: string(r.Data), resync: r.Resync, position: r.Position}, &got, budget)
	})
	var rerr *wsrecords.ReadError
	if errors.As(err, &rerr) {
		if c.kind == kindWSPlain && ctx.Err() == nil {
			return fmt.Errorf("plain connection ended: %w", rerr.Err)
		}
		return nil // resume
	}
	return err
}

func (c *client) request(ctx context.Context, n *node, last string, viaQuery bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint(n, "/sse", last, viaQuery), nil)
	if err == nil && last != "" && !viaQuery {
		req.Header.Set("Last-Event-ID", last)
	}
	return req, err
}

func sseRecord(ev sse.Event) record {
	return record{id: ev.LastEventID, data: ev.Data, resync: ev.Type == fanout.ResyncEvent,
		position: ev.Type == fanout.PositionEvent}
}

func (c *client) sessionSSERaw(ctx context.Context, n *node, last string, budget int, viaQuery bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.request(ctx, n, last, viaQuery)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		pause(ctx) // the node may be going away: try another
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusServiceUnavailable {
		pause(ctx) // refused during a fault: try another
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	c.subscribed.Store(true) // the Broker subscribes before it sends the headers
	got := 0
	for ev, err := range sse.Read(resp.Body, nil) {
		if err != nil || !c.count(sseRecord(ev), &got, budget) {
			break
		}
	}
	return nil
}

// sessionSSEClient runs one go-sse Connection, which reconnects by itself
// (to the same node, sending Last-Event-ID) whenever the server ends the
// stream, until the client has taken budget records and goes away.
func (c *client) sessionSSEClient(ctx context.Context, n *node, last string, budget int, viaQuery bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := c.request(ctx, n, last, viaQuery)
	if err != nil {
		return err
	}
	sc := &sse.Client{
		HTTPClient: c.http,
		Backoff:    sse.Backoff{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxRetries: 20},
	}
	conn := sc.NewConnection(req)
	got, stopped := 0, false
	conn.SubscribeToAll(func(ev sse.Event) { // on Connect's goroutine
		if stopped {
			return
		}
		if !c.count(sseRecord(ev), &got, budget) {
			stopped = true
			cancel()
		}
	})
	_ = conn.Connect() // gives up when the node is gone: the client moves on
	return nil
}

// pause waits a little before a client tries again, or until ctx ends.
func pause(ctx context.Context) {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
