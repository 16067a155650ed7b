package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// waits records the client's backoff delays instead of sleeping: the first
// free ones end at once, the next wait until the client is closed.
type waits struct {
	free   int32
	n      atomic.Int32
	delays chan time.Duration
}

func newWaits(free int) *waits {
	return &waits{free: int32(free), delays: make(chan time.Duration, 1024)}
}

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.delays <- d
	if w.n.Add(1) <= w.free {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// next returns the next delay the client waited.
func (w *waits) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-w.delays:
		return d
	case <-time.After(patience):
		t.Fatal("the client did not wait")
		return 0
	}
}

// TestClient_Backoff: the delays before each attempt double from
// MinBackoff up to MaxBackoff, each drawn from the upper half of its step,
// observed through the client's wait rather than the clock.
func TestClient_Backoff(t *testing.T) {
	cases := []struct {
		name     string
		opts     *client.Options
		min, max time.Duration
	}{
		{name: "defaults", opts: nil, min: 100 * time.Millisecond, max: 30 * time.Second},
		{name: "1s to 4s", opts: &client.Options{MinBackoff: time.Second, MaxBackoff: 4 * time.Second}, min: time.Second, max: 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			const attempts = 14
			w := newWaits(attempts - 1)
			c, err := client.NewWithWait(srv.URL, tc.opts, w.wait)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			step := tc.min
			for i := range attempts {
				d := w.next(t)
				if d < step/2 || d > step {
					t.Errorf("wait %d: %v, want %v to %v", i, d, step/2, step)
				}
				step = min(2*step, tc.max)
			}
		})
	}
}

// TestClient_BackoffResets: a connection that was established resets the
// backoff: after it ends, the first wait is about MinBackoff again, however
// many attempts failed before it.
func TestClient_BackoffResets(t *testing.T) {
	hub := fanout.NewHub(storeOptions())
	defer hub.Close()
	subs := make(chan *fanout.Subscriber, 1)
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) <= 5 {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		hub.ServeHTTP(w, r)
	}))
	defer srv.Close()
	w := newWaits(5)
	o := &client.Options{OnConnect: func(string, string) {
		subs <- hub.Subscribers()[0]
	}}
	c, err := client.NewWithWait("ws"+srv.URL[len("http"):]+"?topic=room", o, w.wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	startReader(t, c) // so that the client reads the close
	for range 5 {
		w.next(t)
	}
	if err := (<-subs).CloseWith(websocket.StatusTryAgainLater, "later"); err != nil {
		t.Fatal(err)
	}
	if d := w.next(t); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("the first wait after a connection is %v, want 50ms to 100ms", d)
	}
}

// TestRetryAfter: Retry-After is read as seconds or as an HTTP date,
// never negative, and capped at an hour.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{"120", 2 * time.Minute},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"999999", time.Hour},
		{"-5", 0},
		{"soon", 0},
	}
	for _, tc := range cases {
		if got := client.RetryAfter(tc.v, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
