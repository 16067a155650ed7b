package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
)

// stream is one established connection, read by the client's goroutine
// only.
type stream interface {
	// read reads the connection until it ends, passing each item to emit,
	// and returns why it ended (never nil). It returns emit's error as
	// soon as emit fails. It tells idle of each read that returned bytes.
	read(ctx context.Context, idle *idleTimer, emit func(item) error) error

	// resumes reports whether the server resumes this connection from the
	// ID it was opened with: it replays what followed, or sends a resync.
	resumes() bool

	// subprotocol is the WebSocket subprotocol the server selected, or "".
	subprotocol() string

	// cut ends the connection at once, from any goroutine: the read in
	// progress fails.
	cut()

	// close releases the connection. Once the client is closed, a
	// WebSocket first says goodbye (a close handshake, up to closeWait).
	close()
}

// stableAfter is how long a connection must last, if it delivers no
// message, to count as a success that resets the backoff. One that ends
// sooner counts as a failed attempt: so a server that accepts each client
// and drops it at once sees it come back no more often than one that
// refuses it.
const stableAfter = 10 * time.Second

// run is the client's goroutine: it connects, reads, and reconnects until
// the client stops.
func (c *Client) run() {
	defer close(c.done)
	if c.own != nil {
		defer c.own.CloseIdleConnections()
	}
	c.err = c.loop()
}

// loop connects to each URL in turn until the client is closed or an error
// stops it, and returns that error.
func (c *Client) loop() error {
	var (
		cur       cursor                     // what to resume from, as of the last item Next took
		gap       = c.opts.LastEventID != "" // something may have been missed since then
		attempt   int                        // failed attempts since the last stable connection
		delivered bool                       // the connection delivered a message
		why       = ResyncUnresumable        // the reason of the resync a gap owes
	)
	cur.set(c.opts.LastEventID, true)
	emit := func(it item) error {
		// The cursor moves before Next takes the item: if it does not,
		// the client is closed, and the cursor no longer matters.
		if it.msg.ID != "" {
			cur.set(it.msg.ID, it.whole)
			it.cursor = cur.String()
		}
		select {
		case c.items <- it:
			if !it.position && !it.msg.Resync {
				delivered = true
			}
			return nil
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	for n := 0; ; n++ {
		u := c.urls[n%len(c.urls)]
		s, err := c.connect(u, cur.String())
		if err == nil {
			began := time.Now()
			delivered = false
			err = c.serve(s, u, cur.String() != "", gap, why, emit)
			s.close()
			gap, why = true, resyncReason(err)
			if delivered || time.Since(began) >= c.stable {
				attempt = 0
			}
		}
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		retry, after := retryable(err)
		if !retry {
			return err
		}
		d := c.backoff(attempt, after)
		attempt++
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(err, d)
		}
		if c.wait(c.ctx, d) != nil {
			return ErrClosed
		}
	}
}

// connect opens a connection to u, resuming from cursor if it can.
func (c *Client) connect(u *url.URL, cursor string) (stream, error) {
	var (
		s   stream
		err error
	)
	if u.Scheme == "ws" || u.Scheme == "wss" {
		s, err = c.dialWS(u, cursor)
	} else {
		s, err = c.dialSSE(u, cursor)
	}
	if err != nil {
		if _, ok := errors.AsType[*StatusError](err); !ok {
			err = fmt.Errorf("fanout/client: %s: %w", u.Redacted(), err)
		}
		return nil, err
	}
	return s, nil
}

// serve reads s until it ends. When something may have been missed (gap)
// and s cannot tell what, a resync goes first: the application is never
// left to assume a gap-free stream. A server silent for IdleTimeout ends
// it with ErrIdle.
func (c *Client) serve(s stream, u *url.URL, hasCursor, gap bool, why string, emit func(item) error) error {
	idle := newIdleTimer(c.opts.IdleTimeout, s.cut)
	defer idle.stop()
	handOver := func(it item) error {
		idle.hold()
		defer idle.release()
		return emit(it)
	}
	if c.opts.OnConnect != nil {
		c.opts.OnConnect(u.Redacted(), s.subprotocol())
	}
	if gap && !(hasCursor && s.resumes()) {
		if err := handOver(item{msg: Message{Resync: true, Data: []byte(why)}}); err != nil {
			return err
		}
	}
	err := s.read(c.ctx, idle, handOver)
	if idle.expired() && c.ctx.Err() == nil {
		err = fmt.Errorf("%w for %v", ErrIdle, c.opts.IdleTimeout)
	}
	return fmt.Errorf("fanout/client: %s: %w", u.Redacted(), err)
}

// resyncReason returns the reason of the resync that a connection which
// ended with err owes the application: the server's, when it closed a
// plain WebSocket with fanout.StatusResync ("fanout.resync: lost"), and
// ResyncUnresumable otherwise.
func resyncReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code == websocket.StatusCode(fanout.StatusResync) {
		if r, ok := strings.CutPrefix(ce.Reason, fanout.ResyncEvent+": "); ok && r != "" {
			return r
		}
	}
	return ResyncUnresumable
}

// retryable reports whether the client tries again after err, and how
// long the server asked it to wait (Retry-After).
//
// It tries again after a network error, an end of stream, a handshake that
// timed out, an HTTP status that says "later" (408, 429, 5xx but 501 and
// 505), and a close status that does not say "stop" (1000 normal closure,
// as Subscriber.Close sends and after which an EventSource reconnects too,
// 1001 going away, 1005 none, 1006, 1011 internal error, 1012 service
// restart, 1013 try again later, 1014 bad gateway). It stops on every
// other status: another 4xx, 204 (what tells an EventSource to stop), 1008
// (policy), the application's 4000 to 4999, and on ErrProtocol and
// ErrTooLarge.
func retryable(err error) (bool, time.Duration) {
	if se, ok := errors.AsType[*StatusError](err); ok {
		switch c := se.StatusCode; {
		case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
			return true, se.RetryAfter
		case c >= 500 && c != http.StatusNotImplemented && c != http.StatusHTTPVersionNotSupported:
			return true, se.RetryAfter
		}
		return false, 0
	}
	if errors.Is(err, ErrProtocol) || errors.Is(err, ErrTooLarge) {
		return false, 0
	}
	switch websocket.CloseStatus(err) {
	case -1, // no close status: a network error, an end of stream
		websocket.StatusNormalClosure,
		websocket.StatusGoingAway,
		websocket.StatusNoStatusRcvd,
		websocket.StatusAbnormalClosure,
		websocket.StatusInternalError,
		websocket.StatusServiceRestart,
		websocket.StatusTryAgainLater,
		websocket.StatusBadGateway:
		return true, 0
	}
	return false, 0
}

// backoff returns the wait before the next attempt, after attempt failed
// ones since the last connection: a step that starts at MinBackoff and
// doubles per failed attempt up to MaxBackoff, drawn at random from its
// upper half; and at least retryAfter, plus up to half a step, when the
// server asked for it.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	step := c.opts.MinBackoff
	for range attempt {
		if step >= c.opts.MaxBackoff/2 {
			step = c.opts.MaxBackoff
			break
		}
		step *= 2
	}
	step = min(step, c.opts.MaxBackoff)
	d := step - rand.N(step/2+1)
	if retryAfter > 0 {
		d = max(d, retryAfter+rand.N(step/2+1))
	}
	return d
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
