package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// TestClient_ServerCloses: how the server ends a subscriber decides
// whether the client stops or reconnects, by the same close status on
// both transports. Subscriber.Close is 1000 on WebSocket and the end of
// an SSE stream: the client reconnects, as an EventSource does.
// CloseWith's status says it on both (a close frame, or a fanout.close
// event): an application code or 1008 stops the client, with Next
// returning the websocket.CloseError after every message received before
// it; 1013 reconnects, and resumes with no gap.
func TestClient_ServerCloses(t *testing.T) {
	cases := []struct {
		name      string
		sse       bool
		close     func(s *fanout.Subscriber) error
		stop      websocket.StatusCode // 0: the client reconnects
		reason    string
		retriedBy func(error) bool
	}{
		{name: "websocket Close", close: (*fanout.Subscriber).Close, retriedBy: status(websocket.StatusNormalClosure)},
		{name: "websocket CloseWith 4001", close: closeWith(4001, "signed out"), stop: 4001, reason: "signed out"},
		{name: "websocket CloseWith 1008", close: closeWith(fanout.StatusPolicyViolation, "banned"), stop: websocket.StatusPolicyViolation, reason: "banned"},
		{name: "websocket CloseWith 1013", close: closeWith(fanout.StatusTryAgainLater, "rebalancing"), retriedBy: status(websocket.StatusTryAgainLater)},
		{name: "sse Close", sse: true, close: (*fanout.Subscriber).Close, retriedBy: func(err error) bool { return errors.Is(err, io.EOF) }},
		{name: "sse CloseWith 4001", sse: true, close: closeWith(4001, "signed out"), stop: 4001, reason: "signed out"},
		{name: "sse CloseWith 1008", sse: true, close: closeWith(fanout.StatusPolicyViolation, "banned"), stop: websocket.StatusPolicyViolation, reason: "banned"},
		{name: "sse CloseWith 1013", sse: true, close: closeWith(fanout.StatusTryAgainLater, "rebalancing"), retriedBy: status(websocket.StatusTryAgainLater)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, storeOptions())
			u := s.wsURL("room")
			if tc.sse {
				u = s.sseURL("room")
			}
			o := &client.Options{}
			ev := hook(o)
			c := dial(t, u, o)
			r := startReader(t, c)
			sub := s.subscriber()
			s.publish("room", 1, 3)
			checkSequence(t, r.numbers(3), 1, 3)
			if err := tc.close(sub); err != nil {
				t.Fatal(err)
			}

			if tc.stop == 0 {
				if err := ev.retried(t); !tc.retriedBy(err) {
					t.Fatalf("the client retried after %v", err)
				}
				s.publish("room", 4, 6)
				checkSequence(t, r.numbers(3), 4, 6)
				return
			}
			res := r.result()
			ce, ok := errors.AsType[websocket.CloseError](res.err)
			if !ok || ce.Code != tc.stop || ce.Reason != tc.reason {
				t.Fatalf("Next returned %+v, %v; want a close error %d %q", res.m, res.err, tc.stop, tc.reason)
			}
			if _, err := c.Next(context.Background()); err != res.err {
				t.Errorf("Next again returned %v, want %v", err, res.err)
			}
			if len(ev.retries) != 0 {
				t.Errorf("the client retried after %v", <-ev.retries)
			}
		})
	}
}

func closeWith(code fanout.StatusCode, reason string) func(*fanout.Subscriber) error {
	return func(s *fanout.Subscriber) error { return s.CloseWith(code, reason) }
}

func status(code websocket.StatusCode) func(error) bool {
	return func(err error) bool { return websocket.CloseStatus(err) == code }
}

// TestClient_Refused: a refusal with a status that means "no" (401, 403,
// 404, 400, 204) stops the client with a *StatusError, on both
// transports; one that means "later" (429, 503, 500) makes it wait at
// least what Retry-After asks, then try again.
func TestClient_Refused(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter time.Duration // set on the refusal
		retry      bool
	}{
		{status: http.StatusUnauthorized},
		{status: http.StatusForbidden},
		{status: http.StatusNotFound},
		{status: http.StatusBadRequest},
		{status: http.StatusNoContent},
		{status: http.StatusTooManyRequests, retryAfter: 7 * time.Second, retry: true},
		{status: http.StatusServiceUnavailable, retryAfter: 120 * time.Second, retry: true},
		{status: http.StatusInternalServerError, retry: true},
	}
	for _, tc := range cases {
		for _, sse := range []bool{false, true} {
			name := strconv.Itoa(tc.status) + map[bool]string{false: " websocket", true: " sse"}[sse]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var refusals atomic.Int32
				opts := storeOptions()
				opts.Authorize = func(r *http.Request) (fanout.Grant, error) {
					if refusals.Add(1) > 1 {
						return fanout.Grant{Topics: []string{"room"}}, nil
					}
					h := http.Header{}
					if tc.retryAfter > 0 {
						h.Set("Retry-After", strconv.Itoa(int(tc.retryAfter/time.Second)))
					}
					return fanout.Grant{}, &fanout.Refusal{Status: tc.status, Header: h}
				}
				s := newServer(t, opts)
				u := s.wsURL("room")
				if sse {
					u = s.sseURL("room")
				}
				delays := make(chan time.Duration, 1)
				c, err := client.NewWithWait(u, nil, func(ctx context.Context, d time.Duration) error {
					delays <- d
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				r := startReader(t, c)

				if !tc.retry {
					res := r.result()
					se, ok := errors.AsType[*client.StatusError](res.err)
					if !ok || se.StatusCode != tc.status {
						t.Fatalf("Next returned %v, want a StatusError %d", res.err, tc.status)
					}
					if len(delays) != 0 {
						t.Errorf("the client waited %v to try again", <-delays)
					}
					return
				}
				_ = s.subscriber() // admitted on the second attempt
				if d := <-delays; d < tc.retryAfter {
					t.Errorf("the client waited %v, less than Retry-After %v", d, tc.retryAfter)
				}
				s.publish("room", 1, 2)
				checkSequence(t, r.numbers(2), 1, 2)
			})
		}
	}
}

// TestClient_CloseHandshake: Close says goodbye over WebSocket, with a
// close frame (1000) the Hub answers, so the Hub's OnDisconnect sees a
// normal end (nil), not a connection that broke.
func TestClient_CloseHandshake(t *testing.T) {
	ended := make(chan error, 1)
	opts := storeOptions()
	opts.OnDisconnect = func(_ *fanout.Subscriber, err error) { ended <- err }
	s := newServer(t, opts)
	c := dial(t, s.wsURL("room"), nil)
	s.subscriber()
	s.publish("room", 1, 1)
	if _, err := c.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the Hub's OnDisconnect saw %v, want nil (a close frame with 1000)", err)
		}
	case <-time.After(patience):
		t.Fatal("the Hub did not see the client leave")
	}
}

// TestClient_CloseUnanswered: Close waits for the server's answer to its
// close frame only so long (a second): a server that never answers does
// not hold it up for coder/websocket's own bound (five seconds).
func TestClient_CloseUnanswered(t *testing.T) {
	s := newRawServer(t, true)
	o := &client.Options{}
	ev := hook(o)
	c := dial(t, s.wsURL(), o)
	ev.connected(t)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Close took %v", d)
	}
}
