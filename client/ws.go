package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// wsStream is a connection to a Hub.
type wsStream struct {
	conn     *websocket.Conn
	proto    string
	packed   bool // frames are packed records (a resume or packed subprotocol)
	resuming bool // a resume subprotocol: the Hub honoured lastEventId
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
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.HandshakeTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPClient:   c.hc,
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
	conn.SetReadLimit(int64(c.opts.ReadLimit))
	p := conn.Subprotocol()
	s := &wsStream{conn: conn, proto: p}
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
func (s *wsStream) close()              { _ = s.conn.CloseNow() }

func (s *wsStream) read(ctx context.Context, emit func(item) error) error {
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
				return emit(item{msg: Message{ID: r.ID}, position: true})
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
