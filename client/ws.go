package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// wsStream is a connection to a Hub.
type wsStream struct {
	conn     *websocket.Conn
	raw      *wsBody // the connection under conn
	proto    string
	packed   bool // frames are packed records (a resume or packed subprotocol)
	resuming bool // a resume subprotocol: the Hub honoured lastEventId

	stopBye func() bool   // unregisters goodbye from the client's Close
	bye     chan struct{} // closed when goodbye, once started, is over
}

// closeWait bounds how long Close waits for the server to answer its close
// frame, so that a server that says nothing does not hold Close up.
const closeWait = time.Second

// wsBody is the connection a WebSocket runs on, as the HTTP transport
// handed it over after the 101: what arrives on it is a sign of life for
// the idle timer (a Hub's ping as much as a message, and a large message
// while it arrives), and closing it ends whatever coder/websocket is
// doing with it at once.
type wsBody struct {
	io.ReadWriteCloser
	idle atomic.Pointer[idleTimer]
}

func (b *wsBody) Read(p []byte) (int, error) {
	n, err := b.ReadWriteCloser.Read(p)
	if n > 0 {
		b.idle.Load().touch()
	}
	return n, err
}

// wsBodyKey carries, in a handshake request's context, the *wsBody that
// the switched connection goes into.
type wsBodyKey struct{}

// tapTransport hands the connection of a switched (101) response to the
// request's *wsBody, and coder/websocket the *wsBody in its place.
type tapTransport struct{ base http.RoundTripper }

func (t tapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	b, ok := req.Context().Value(wsBodyKey{}).(*wsBody)
	rwc, ok2 := resp.Body.(io.ReadWriteCloser)
	if ok && ok2 && b.ReadWriteCloser == nil {
		b.ReadWriteCloser = rwc
		resp.Body = b
	}
	return resp, nil
}

// wsHTTPClient returns hc, with its Transport tapped (see tapTransport).
func wsHTTPClient(hc *http.Client) *http.Client {
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = tapTransport{base}
	return &c
}

// offers returns the subprotocols mode offers, best first.
func (m Mode) offers() []string {
	switch m {
	case ModeResume:
		return []string{fanout.ResumeSubprotocolV2, fanout.ResumeSubprotocol}
	case ModePacked:
		return []string{fanout.PackedSubprotocolV2, fanout.PackedSubprotocol}
	}
	return nil
}

// dialWS opens a WebSocket to the Hub at u, resuming from cursor in
// ModeResume.
func (c *Client) dialWS(u *url.URL, cursor string) (*wsStream, error) {
	if c.opts.Mode != ModeResume {
		cursor = "" // the Hub resumes resume subprotocols only
	}
	target := withLastEventID(u, cursor)
	raw := &wsBody{}
	ctx, cancel := context.WithTimeout(context.WithValue(c.ctx, wsBodyKey{}, raw), c.opts.HandshakeTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPClient:   c.wsClient,
		HTTPHeader:   c.opts.Header,
		Subprotocols: c.opts.Mode.offers(),
	})
	if err != nil {
		switch {
		case resp == nil: // no answer: a network error
			return nil, err
		case resp.StatusCode == http.StatusSwitchingProtocols: // a broken handshake
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return nil, statusError(u.Redacted(), resp, time.Now())
	}
	if raw.ReadWriteCloser == nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("%w: HTTPClient's Transport hid the connection of the 101 response", ErrProtocol)
	}
	conn.SetReadLimit(int64(c.opts.ReadLimit))
	p := conn.Subprotocol()
	s := &wsStream{conn: conn, raw: raw, proto: p, bye: make(chan struct{})}
	s.stopBye = context.AfterFunc(c.ctx, s.goodbye)
	for _, o := range []string{fanout.ResumeSubprotocolV2, fanout.ResumeSubprotocol, fanout.PackedSubprotocolV2, fanout.PackedSubprotocol} {
		if strings.EqualFold(p, o) {
			s.packed = true
			s.resuming = strings.HasPrefix(o, "fanout.resume.")
		}
	}
	return s, nil
}

// withLastEventID returns u with its lastEventId query parameter set to
// id, or removed when id is "".
func withLastEventID(u *url.URL, id string) string {
	q := u.Query()
	if id == "" && !q.Has("lastEventId") {
		return u.String()
	}
	q.Del("lastEventId")
	if id != "" {
		q.Set("lastEventId", id)
	}
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}

func (s *wsStream) resumes() bool       { return s.resuming }
func (s *wsStream) subprotocol() string { return s.proto }
func (s *wsStream) cut()                { _ = s.raw.Close() }

// goodbye runs when the client is closed: it sends a close frame (1000,
// normal closure) and waits for the server's, up to closeWait, so that
// the server sees the client leave, not its connection break. The read
// in progress, if any, returns with the server's answer (or its failure).
func (s *wsStream) goodbye() {
	defer close(s.bye)
	t := time.AfterFunc(closeWait, s.cut)
	defer t.Stop()
	_ = s.conn.Close(websocket.StatusNormalClosure, "")
}

func (s *wsStream) close() {
	if !s.stopBye() { // the client is closed: goodbye runs
		<-s.bye
	}
	_ = s.conn.CloseNow()
}

// read reads frames until the connection ends; the client's Close (ctx)
// ends it with a close handshake (goodbye), not by cutting it.
func (s *wsStream) read(ctx context.Context, idle *idleTimer, emit func(item) error) error {
	s.raw.idle.Store(idle)
	ctx = context.WithoutCancel(ctx)
	for {
		typ, frame, err := s.conn.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				return fmt.Errorf("%w: %w", ErrTooLarge, err)
			}
			return err
		}
		if !s.packed {
			m := Message{Data: frame}
			if typ == websocket.MessageBinary {
				m.Type = fanout.Binary
			}
			if err := emit(item{msg: m}); err != nil {
				return err
			}
			continue
		}
		if typ != websocket.MessageBinary {
			return fmt.Errorf("%w: a text frame in subprotocol %s", ErrProtocol, s.proto)
		}
		err = fanout.UnpackRecords(frame, func(r fanout.Record) error {
			switch {
			case r.Position:
				// A position (possibly a composite) is the whole cursor;
				// a message's ID is its partition's position only.
				return emit(item{msg: Message{ID: r.ID}, position: true, whole: true})
			case r.Resync:
				return emit(item{msg: Message{Resync: true, Data: r.Data}})
			}
			return emit(item{msg: Message{ID: r.ID, Event: r.Event, Topic: r.Topic, Type: r.Type, Data: r.Data}})
		})
		if errors.Is(err, fanout.ErrBadPacked) {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		if err != nil {
			return err
		}
	}
}
