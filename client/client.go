package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout"
)

// Message is one message from the server, or a resync signal.
type Message struct {
	// ID is the message's ID: what the client resumes from (see
	// Client.LastEventID, which may hold the positions of several
	// partitions). It is set for every published message of a server
	// with a store, in ModeResume and on SSE; "" otherwise. Over
	// WebSocket it is the position of the message's own partition; over
	// SSE, for a subscriber of several partitions, the composite of all
	// of them, which is what the Broker writes in the event's id field.
	ID string

	// Event is the message's event type (what fanout.Message.WithEvent
	// set): on SSE, and in the v2 WebSocket subprotocols. "" for none.
	Event string

	// Topic is the topic the message was published to, in the v2
	// WebSocket subprotocols (ModeResume, ModePacked). "" for a
	// broadcast, and always on SSE, whose events carry no topic.
	Topic string

	// Type is fanout.Text or fanout.Binary. SSE carries text only: there a
	// binary message arrives as Text, its Data the base64 encoding
	// (standard, padded) of its bytes, and line breaks arrive as "\n".
	Type fanout.MessageType

	// Data is the payload; the Message owns it. For a resync, Data is
	// the reason: ResyncUnknown, ResyncUnavailable, ResyncLost or
	// ResyncUnresumable.
	Data []byte

	// Resync reports a resync signal, not a message: what the client
	// missed since its last message cannot be told (the server does not
	// know the ID it resumed from, or there was nothing to resume from),
	// so the application should reload its state. Messages that follow
	// are live. See the package documentation.
	Resync bool
}

// The reasons a resync gives in its Data.
const (
	// ResyncUnknown: the server does not know the ID the client resumed
	// from: it was evicted, the server restarted with an in-memory store
	// (a new epoch), or the server has no store.
	ResyncUnknown = "unknown"

	// ResyncUnavailable: the server's store failed to read what was
	// missed.
	ResyncUnavailable = "unavailable"

	// ResyncLost: the server's engine lost messages that the stream was
	// to carry (a gap it could not fill, or its history was reset). A
	// plain WebSocket connection (ModePlain) learns it from the server's
	// close (fanout.StatusResync), and the client reports it once the
	// next connection is open.
	ResyncLost = "lost"

	// ResyncUnresumable: the client reconnected without a way to resume,
	// and says so itself: in ModePacked or ModePlain (no IDs), against a
	// server that sent no ID or position (no store), or with a server
	// that did not select the resume subprotocol.
	ResyncUnresumable = "unresumable"
)

// Client receives a stream of messages from a fanout Hub (WebSocket) or
// Broker (SSE), reconnecting and resuming by itself. Make one with New,
// read with Next, and Close it when done.
//
// A Client is safe for concurrent use, but its messages are a single
// stream: call Next from one goroutine at a time. LastEventID and Close
// may be called from any goroutine.
type Client struct {
	opts      Options
	urls      []*url.URL
	hc        *http.Client    // HTTPClient, or the Client's own
	wsClient  *http.Client    // hc tapped, for WebSocket handshakes: coder/websocket applies its Timeout
	sseClient *http.Client    // hc without Timeout, which would cut the stream
	own       *http.Transport // the Transport of a default HTTPClient, closed with the Client
	wait      func(ctx context.Context, d time.Duration) error
	stable    time.Duration // how long a connection that delivers nothing must last to reset the backoff

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	items  chan item     // unbuffered: the reader goroutine hands over each item
	done   chan struct{} // closed when the reader goroutine has exited
	err    error         // why it exited; written before done is closed
	closed atomic.Bool
	once   sync.Once

	mu     sync.Mutex
	lastID string // of the last item Next took
}

// item is what the reader goroutine hands to Next: a message, a resync,
// or a position (an ID to resume from, with no message).
type item struct {
	msg      Message
	position bool
	whole    bool   // msg.ID stands for the whole cursor (see cursor.set): a position's, an SSE event's
	cursor   string // the ID to resume from once Next took the item: set by the reader goroutine's emit
}

// New returns a Client of the stream at rawURL, configured by opts (nil
// for defaults), and starts connecting in the background. The URL's
// scheme chooses the transport: ws or wss for a Hub (WebSocket), http or
// https for a Broker (SSE); its query names the topics, as the server
// expects (?topic=a&topic=b). The client sets the lastEventId query
// parameter itself: do not put one in the URL. opts is copied.
//
// New fails only for a malformed URL or option. An error that stops the
// client comes out of Next; those it retries go to Options.OnRetry. Close
// the Client when done, to end its goroutine and connection.
func New(rawURL string, opts *Options) (*Client, error) {
	c, err := newClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	c.start()
	return c, nil
}

func newClient(rawURL string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	if o.Mode > ModePlain {
		return nil, fmt.Errorf("fanout/client: unknown %v", o.Mode)
	}
	c := &Client{opts: o, wait: sleep, stable: stableAfter, done: make(chan struct{}), items: make(chan item)}
	for _, s := range append([]string{rawURL}, o.URLs...) {
		u, err := parseURL(s)
		if err != nil {
			return nil, err
		}
		c.urls = append(c.urls, u)
	}
	c.hc = o.HTTPClient
	if c.hc == nil {
		c.hc = &http.Client{}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			c.own = t.Clone()
			c.hc.Transport = c.own
		}
	}
	c.wsClient = wsHTTPClient(c.hc)
	sc := *c.hc
	sc.Timeout = 0
	c.sseClient = &sc
	return c, nil
}

// parseURL parses a stream's URL.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("fanout/client: %w", err)
	}
	switch u.Scheme = strings.ToLower(u.Scheme); u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("fanout/client: URL %q: the scheme must be ws or wss (a Hub) or http or https (a Broker)", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("fanout/client: URL %q has no host", s)
	}
	return u, nil
}

func (c *Client) start() {
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
}

// Next returns the next message, or resync signal (Message.Resync), in
// the order the server sent them, waiting for one until ctx ends. Ending
// ctx abandons the wait only: the connection goes on, and the next call
// gets the message.
//
// Next returns an error when ctx ends (ctx.Err()), once Close was called
// (ErrClosed), and when the client stopped for good: the server refused
// it (a *StatusError), closed it with a status that means "do not come
// back" (an error wrapping a websocket.CloseError: a WebSocket close
// frame, or the SSE fanout.close event), or spoke something else
// (ErrProtocol, ErrTooLarge). Every message received before that error is
// returned first; after it, Next returns it again.
func (c *Client) Next(ctx context.Context) (Message, error) {
	for {
		if c.closed.Load() {
			return Message{}, ErrClosed
		}
		select {
		case it := <-c.items:
			if it.cursor != "" {
				c.mu.Lock()
				c.lastID = it.cursor
				c.mu.Unlock()
			}
			if it.position {
				continue
			}
			return it.msg, nil
		case <-c.done:
			if c.closed.Load() {
				return Message{}, ErrClosed
			}
			return Message{}, c.err
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// LastEventID returns the ID to resume from: that of the last message Next
// returned, or the position the server gave a new stream before its first
// message (which Next takes in without returning it), or
// Options.LastEventID before either. A resync leaves it as it was. An application that
// persists it, and starts its next Client with it in Options.LastEventID,
// misses nothing across restarts either (or is told so with a resync).
//
// Over WebSocket, from a server whose engine orders topics in several
// partitions (the Redis engine), it may be a composite of one position
// per partition of the stream's topics, joined by '.': each message
// carries its own partition's position (Message.ID), and LastEventID the
// last of each. Over SSE, it is the last event's ID, which a Broker
// writes as the whole composite. Treat it as an opaque string.
func (c *Client) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastID == "" {
		return c.opts.LastEventID
	}
	return c.lastID
}

// Close stops the client: it closes the connection or abandons the
// attempt or wait in progress, and returns once the client's goroutine has
// exited and, with the default HTTPClient, its idle connections are
// closed. A WebSocket is closed with a close frame (1000, normal
// closure), and Close waits up to a second for the server's answer, so
// that a Hub's OnDisconnect sees a normal end (a nil error); an SSE
// stream is closed as an EventSource closes it, by ending the request. A message the client read but Next did not return is dropped;
// LastEventID still names the last one returned. Close is idempotent and
// safe to call concurrently; it always returns nil. It must not be called
// from OnConnect or OnRetry.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.cancel()
	})
	<-c.done
	return nil
}
