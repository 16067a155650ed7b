package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestClient_BackoffResets: a connection resets the backoff once it
// delivered a message, or lasted a while: after it ends, the first wait is
// about MinBackoff again, however many attempts failed before it. One that
// ends at once, having delivered nothing (the Hub's position is no
// message), counts as one more failed attempt.
func TestClient_BackoffResets(t *testing.T) {
	const stable = 100 * time.Millisecond
	cases := []struct {
		name     string
		message  bool // a message is delivered before the server closes
		last     bool // the connection lasts stable before the server closes
		min, max time.Duration
	}{
		{name: "a message", message: true, min: 50 * time.Millisecond, max: 100 * time.Millisecond},
		{name: "lasted", last: true, min: 50 * time.Millisecond, max: 100 * time.Millisecond},
		{name: "dropped at once", min: 1600 * time.Millisecond, max: 3200 * time.Millisecond}, // the sixth step
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
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
			var connected time.Time
			o := &client.Options{OnConnect: func(string, string) {
				connected = time.Now()
				subs <- hub.Subscribers()[0]
			}}
			c, err := client.NewWithStable("ws"+srv.URL[len("http"):]+"?topic=room", o, w.wait, stable)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := startReader(t, c) // so that the client reads the close
			for range 5 {
				w.next(t)
			}
			sub := <-subs
			if tc.message {
				if err := hub.Publish(context.Background(), "room", fanout.NewMessage([]byte("1"))); err != nil {
					t.Fatal(err)
				}
				r.numbers(1)
			}
			if tc.last {
				time.Sleep(time.Until(connected.Add(stable))) // what is tested: time passing
			}
			if err := sub.CloseWith(fanout.StatusTryAgainLater, "later"); err != nil {
				t.Fatal(err)
			}
			if d := w.next(t); d < tc.min || d > tc.max {
				t.Errorf("the first wait after the connection is %v, want %v to %v", d, tc.min, tc.max)
			}
		})
	}
}

// TestClient_BackoffDropped: against a server that accepts each
// connection (101, or 200 and an event stream) and drops it at once, the
// waits double from MinBackoff up to MaxBackoff, as they do against one
// that refuses it: each such connection counts as a failed attempt.
func TestClient_BackoffDropped(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(map[bool]string{false: "websocket", true: "sse"}[sse], func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, false)
			u := s.wsURL()
			if sse {
				u = s.sseURL()
			}
			const attempts = 12
			w := newWaits(attempts - 1)
			o := &client.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 5 * time.Second}
			ev := hook(o)
			c, err := client.NewWithWait(u, o, w.wait)
			if err != nil {
				t.Fatal(err)
			}
			startReader(t, c) // the resync each reconnection brings
			step := o.MinBackoff
			for i := range attempts {
				ev.connected(t)
				d := w.next(t)
				if d < step/2 || d > step {
					t.Fatalf("wait %d: %v, want %v to %v", i, d, step/2, step)
				}
				step = min(2*step, o.MaxBackoff)
			}
		})
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

// TestClient_DroppedRate: 1,000 clients of a server that accepts each
// connection (101) and drops it at once come back no faster than if it
// refused them: each client's waits double from MinBackoff (they do not
// start again from it after each connection), so the server sees at most
// the attempts that schedule allows: 1 + the number of waits, each at
// least half its step, that fit in the time elapsed. (Before, each client
// came back every MinBackoff or so, for ever.)
func TestClient_DroppedRate(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 clients")
	}
	s := newRawServer(t, false)
	const (
		clients = 1000
		window  = 2500 * time.Millisecond
	)
	o := client.Options{MinBackoff: 500 * time.Millisecond} // MaxBackoff: 30s
	delays := make([][]time.Duration, clients)
	cs := make([]*client.Client, clients)
	var readers sync.WaitGroup
	start := time.Now()
	for i := range clients {
		o := o
		o.OnRetry = func(_ error, d time.Duration) { delays[i] = append(delays[i], d) }
		c, err := client.New(s.wsURL(), &o)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
		readers.Go(func() { // the resync that each reconnection brings
			for {
				if _, err := c.Next(context.Background()); err != nil {
					return
				}
			}
		})
	}
	time.Sleep(time.Until(start.Add(window))) // what is measured: attempts in a time
	n, elapsed := s.requests.Load(), time.Since(start)
	for _, c := range cs {
		_ = c.Close() // delays is theirs until then
	}
	readers.Wait()

	// The most attempts a client makes in elapsed: one at once, then one
	// after each wait, a wait being at least half its step.
	most, sum := 1, time.Duration(0)
	for step := o.MinBackoff; ; step = min(2*step, 30*time.Second) {
		if sum += step / 2; sum > elapsed {
			break
		}
		most++
	}
	t.Logf("%d clients: %d attempts in %v (%.0f/s); at most %d each", clients, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), most)
	if n > int64(clients*most) {
		t.Errorf("%d attempts in %v, more than %d clients × %d", n, elapsed, clients, most)
	}
	for i, ds := range delays {
		step := o.MinBackoff
		for k, d := range ds {
			if d < step/2 || d > step {
				t.Fatalf("client %d: wait %d is %v, want %v to %v (waits %v)", i, k, d, step/2, step, ds)
			}
			step = min(2*step, 30*time.Second)
		}
	}
}

// resettable is the in-process engine with a handle on the feed the Hub
// gave it, so that a test can make it report a loss (Feed.Reset), as the
// Redis engine does when Redis lost messages.
type resettable struct {
	fanout.Engine
	mu   sync.Mutex
	feed fanout.Feed
}

func (e *resettable) Start(f fanout.Feed) {
	e.mu.Lock()
	e.feed = f
	e.mu.Unlock()
	e.Engine.Start(f)
}

func (e *resettable) reset(err error) {
	e.mu.Lock()
	f := e.feed
	e.mu.Unlock()
	f.Reset(0, err)
}

// TestClient_PlainResyncLost: a Hub closes a plain WebSocket with
// fanout.StatusResync when its engine lost messages (no frame of its own
// may enter a plain stream); the client reports that loss, with the
// server's reason (ResyncLost), once it has reconnected, before the new
// connection's messages: not as the generic ResyncUnresumable.
func TestClient_PlainResyncLost(t *testing.T) {
	t.Parallel()
	opts := storeOptions()
	eng := &resettable{Engine: fanout.NewLocalEngine(opts.Replay)}
	opts.Engine = eng
	s := newServer(t, opts)
	o := &client.Options{Mode: client.ModePlain}
	ev := hook(o)
	r := startReader(t, dial(t, s.wsURL("room"), o))
	ev.connected(t)
	s.publish("room", 1, 2)
	checkSequence(t, r.numbers(2), 1, 2)

	eng.reset(errors.New("the engine's history was reset"))
	ev.connected(t)
	m := r.next()
	if !m.Resync || string(m.Data) != client.ResyncLost {
		t.Fatalf("after the server's resync close: %+v, want a resync %q", m, client.ResyncLost)
	}
	s.publish("room", 3, 4)
	checkSequence(t, r.numbers(2), 3, 4)
}
