package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout/client"
)

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
