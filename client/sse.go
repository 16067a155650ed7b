package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// sseStream is an event stream from a Broker.
type sseStream struct {
	body   io.ReadCloser
	cancel context.CancelCauseFunc // ends the request
	limit  int
}

// errHandshakeTimeout is why an attempt failed when it took longer than
// HandshakeTimeout.
var errHandshakeTimeout = errors.New("fanout/client: handshake timed out")

// dialSSE requests the event stream at u, resuming from cursor.
func (c *Client) dialSSE(u *url.URL, cursor string) (*sseStream, error) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, withLastEventID(u, ""), nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	if c.opts.Header != nil {
		req.Header = c.opts.Header.Clone()
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if cursor != "" {
		req.Header.Set("Last-Event-ID", cursor)
	}
	// The handshake's bound must not outlive the headers: the request's
	// context is the stream's.
	timeout := c.opts.HandshakeTimeout
	if t := c.hc.Timeout; t > 0 {
		timeout = min(timeout, t)
	}
	timer := time.AfterFunc(timeout, func() { cancel(errHandshakeTimeout) })
	resp, err := c.sseClient.Do(req)
	if !timer.Stop() {
		err = errors.Join(errHandshakeTimeout, err)
	}
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		cancel(nil)
		return nil, err
	}
	fail := func(err error) (*sseStream, error) {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // so the connection may be reused
		_ = resp.Body.Close()
		cancel(nil)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return fail(statusError(u.Redacted(), resp, time.Now()))
	}
	if t, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); t != "text/event-stream" {
		return fail(fmt.Errorf("%w: a response of type %q, not text/event-stream", ErrProtocol, resp.Header.Get("Content-Type")))
	}
	return &sseStream{body: resp.Body, cancel: cancel, limit: c.opts.ReadLimit}, nil
}

func (s *sseStream) resumes() bool       { return true } // a Broker answers Last-Event-ID with a replay or a resync
func (s *sseStream) subprotocol() string { return "" }

func (s *sseStream) cut() { s.cancel(ErrIdle) }

// close ends the request: over SSE, a client leaves by closing its
// stream, as an EventSource does.
func (s *sseStream) close() {
	s.cancel(nil)
	_ = s.body.Close()
}

func (s *sseStream) read(_ context.Context, idle *idleTimer, emit func(item) error) error {
	return readEvents(touchReader{s.body, idle}, s.limit, emit)
}

// touchReader tells idle of each read that returned bytes: a heartbeat
// comment is a sign of life, though the parser passes no event for it.
type touchReader struct {
	r    io.Reader
	idle *idleTimer
}

func (t touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.idle.touch()
	}
	return n, err
}

// readEvents reads an event stream (see parseEvents), passing each
// message, resync and position to emit, until the stream ends or a
// fanout.close event ends it. A message's ID is its event's own id field:
// one without has none, whatever came before.
func readEvents(r io.Reader, limit int, emit func(item) error) error {
	var stop error // a fanout.close event's
	err := parseEvents(r, limit, func(ev sseEvent) error {
		var it item
		switch ev.typ {
		case fanout.PositionEvent:
			if ev.data == "" {
				return fmt.Errorf("%w: an empty %s event", ErrProtocol, fanout.PositionEvent)
			}
			it = item{msg: Message{ID: ev.data}, position: true, whole: true}
		case fanout.ResyncEvent:
			it = item{msg: Message{Resync: true, Data: []byte(ev.data)}}
		case fanout.CloseEvent:
			stop = closeEvent(ev.data)
			return stop
		default:
			// A Broker writes the whole cursor in every id field (a
			// composite, for topics in several partitions): an
			// EventSource keeps the last one, and so does the client.
			it = item{msg: Message{ID: ev.id, Event: ev.typ, Data: []byte(ev.data)}, whole: true}
		}
		return emit(it)
	})
	switch {
	case stop != nil:
		return stop
	case errors.Is(err, io.EOF):
		return fmt.Errorf("the server ended the stream: %w", io.EOF)
	}
	return err
}

// closeEvent returns the close status a fanout.close event carries: its
// data is the code, a space, and the reason.
func closeEvent(data string) error {
	code, reason, _ := strings.Cut(data, " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 1000 || n > 4999 {
		return fmt.Errorf("%w: a %s event whose data is %q, not a close status and a reason", ErrProtocol, fanout.CloseEvent, data)
	}
	return websocket.CloseError{Code: websocket.StatusCode(n), Reason: reason}
}
