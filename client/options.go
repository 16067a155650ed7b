package client

import (
	"net/http"
	"strconv"
	"time"
)

// Options configures a Client. The zero value (or a nil *Options) is a
// good default for every field.
type Options struct {
	// URLs lists more URLs of the same stream, to connect to in turn: each
	// connection attempt takes the next one, after the URL given to New,
	// wrapping around. They may mix transports (a Hub's ws:// URL and its
	// attached Broker's http:// URL share IDs) and nodes that share an
	// engine. Defaults to none: every attempt uses New's URL.
	URLs []string

	// Mode says how a WebSocket connection is framed: ModeResume (the
	// zero value, the default), ModePacked or ModePlain. Ignored for SSE.
	Mode Mode

	// LastEventID is the ID to resume from on the first connection, as
	// the application saved it from Client.LastEventID (a composite of
	// several partitions' positions included): the client receives what
	// followed it (or a resync, when the server cannot tell). Defaults to
	// none: the stream starts with what is published after the client
	// connects.
	LastEventID string

	// Header is sent with every request (cookies, an Authorization
	// header). The client sets Last-Event-ID (SSE), Accept and the
	// WebSocket headers itself. Defaults to none.
	Header http.Header

	// HTTPClient makes the requests: its Transport dials, and its Jar and
	// CheckRedirect apply. Its Timeout bounds only the handshake, as
	// HandshakeTimeout does (the stream itself has no deadline). Defaults
	// to a client of the Client's own, with a clone of
	// http.DefaultTransport, whose idle connections Close closes.
	HTTPClient *http.Client

	// HandshakeTimeout bounds each connection attempt: dialing, TLS, and
	// the WebSocket handshake or the SSE response's headers. An attempt
	// that takes longer fails, and the client tries again. Defaults to
	// 15s.
	HandshakeTimeout time.Duration

	// ReadLimit bounds a WebSocket message (a packed frame, which holds a
	// whole batch of messages, counts as one) and an SSE event, in bytes.
	// A larger one stops the client with ErrTooLarge. Defaults to 64 MiB,
	// well above anything a server on fanout's defaults sends: a message
	// of at most 1 MiB (Limits.MaxMessageSize), an SSE event of one
	// message (a binary one in base64, a third larger), a packed frame of
	// at most HubOptions.MaxBatchBytes (256 KiB) or a single larger
	// message, plus the IDs, event types and topics of at most
	// HubOptions.MaxBatch (64) records.
	ReadLimit int

	// IdleTimeout is how long the server may stay silent before the
	// client gives the connection up (with ErrIdle, to OnRetry) and
	// reconnects, resuming where it was: a peer or a path that died
	// without a word (no FIN, no RST), or a server that hangs, is found
	// this long after its last byte. Anything the server sends counts,
	// a Hub's ping and a Broker's heartbeat comment as much as a message;
	// the time the client waits for the application to call Next does
	// not. Defaults to 45s, a little over a server's silence on fanout's
	// defaults: a Hub pings every 30s (HubOptions.PingInterval), and a
	// Broker's idle stream gets a heartbeat at least every 30s
	// (BrokerOptions.Heartbeat, 15s, skipped when data went out in the
	// last interval). Raise it when a server's keepalive is longer; a
	// server without one (PingInterval or Heartbeat negative) is given up
	// whenever no message comes for IdleTimeout. Negative disables.
	IdleTimeout time.Duration

	// MinBackoff and MaxBackoff bound the wait before each reconnection.
	// The first wait is about MinBackoff, and each failed attempt doubles
	// it up to MaxBackoff; each wait is drawn at random from its upper
	// half (jitter), so that clients dropped together do not come back
	// together. A connection resets it once it has delivered a message, or
	// lasted 10 seconds; one that ends sooner with nothing delivered (the
	// server accepted the client and dropped it at once) counts as a
	// failed attempt, so such a server sees each client no more often
	// than one that refuses it (see the package documentation,
	// "Reconnecting"). Default to 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration

	// OnConnect, if set, is called on the client's goroutine each time a
	// connection is established (the server has subscribed it), with its
	// URL (as given, without lastEventId) and the WebSocket subprotocol
	// the server selected ("" for SSE and plain WebSocket). It must not
	// block, nor call Close.
	OnConnect func(url, subprotocol string)

	// OnRetry, if set, is called on the client's goroutine each time a
	// connection ends or an attempt fails and the client will try again
	// after delay: err says why (a *StatusError, an error wrapping a
	// websocket.CloseError, a network error). The error that stops the
	// client is not passed here: Next returns it. It must not block, nor
	// call Close.
	OnRetry func(err error, delay time.Duration)
}

// Mode is how a WebSocket connection is framed (see fanout's
// subprotocols). A client reads what the server selected, so a mode the
// server does not offer falls back to plain frames.
type Mode uint8

const (
	// ModeResume offers fanout.resume.v2, then v1: packed frames of
	// records with each message's ID (and in v2 its event type and topic),
	// a position first, and a resync when the server cannot resume. The
	// client reconnects with ?lastEventId= and misses nothing. The zero
	// value, and the default.
	ModeResume Mode = iota

	// ModePacked offers fanout.packed.v2, then v1 (the Hub must set
	// HubOptions.Packing): each batch in one frame, with event types and
	// topics in v2, but no IDs, so no resume.
	ModePacked

	// ModePlain offers no subprotocol: one frame per message, no IDs, no
	// event types, no topics, no resume.
	ModePlain
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case ModeResume:
		return "resume"
	case ModePacked:
		return "packed"
	case ModePlain:
		return "plain"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Defaults.
const (
	defaultHandshakeTimeout = 15 * time.Second
	defaultReadLimit        = 64 << 20
	defaultIdleTimeout      = 45 * time.Second
	defaultMinBackoff       = 100 * time.Millisecond
	defaultMaxBackoff       = 30 * time.Second
)

// withDefaults returns a copy of o with every zero field set to its
// default.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	c.URLs = append([]string(nil), c.URLs...)
	c.Header = c.Header.Clone()
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = defaultReadLimit
	}
	switch {
	case c.IdleTimeout == 0:
		c.IdleTimeout = defaultIdleTimeout
	case c.IdleTimeout < 0:
		c.IdleTimeout = 0
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = defaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = defaultMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	return c
}
