// Package testkit holds the test helpers that the tests of the root
// package, client/, prometheus/ and redis/ share: waiting for a
// condition or a value with a deadline (never a sleep as
// synchronisation), holding one Write of a real connection to stall a
// writer at a known point, and the property tests' checks of what a
// resuming client received (Received, CheckCounters). The servers that
// real clients test against (e2e/, js/test/server) share its
// Gatekeeper, which records, holds and refuses their requests. Subpackages:
// wsrecords reads a test client's records, payload makes compression
// payloads (for bench/ too).
//
// The deadlines are against hangs, never performance assertions: on a
// loaded machine conditions are usually met in milliseconds, and only a
// bug makes a test reach one. It depends on the standard library only.
package testkit

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing t if it does not within
// timeout. It must run on the test goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, fmt.Sprintf(format, args...))
		}
		<-tick.C
	}
}

// Recv receives one value from ch, failing t if none arrives within
// timeout; what names the value in the failure.
func Recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("no %s within %v", what, timeout)
		panic("unreachable")
	}
}

// ClosedWithin fails t unless ch is closed (or yields) within timeout;
// what names the event in the failure.
func ClosedWithin(t testing.TB, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("%s did not happen within %v", what, timeout)
	}
}

// Gate holds one Write of a connection: a test wraps a real server-side
// connection, calls Pass at the start of its Write, and Hold to stall
// the next Write at a known point while the client keeps reading. Its
// zero value lets every Write through.
type Gate struct {
	mu      sync.Mutex
	gate    chan struct{} // the next Write waits for it to close
	entered chan struct{} // closed when that Write has started waiting
}

// Hold makes the next Write wait until release is called (or the
// connection closes); entered is closed once that Write waits.
func (g *Gate) Hold() (entered <-chan struct{}, release func()) {
	gate, in := make(chan struct{}), make(chan struct{})
	g.mu.Lock()
	g.gate, g.entered = gate, in
	g.mu.Unlock()
	var once sync.Once
	return in, func() { once.Do(func() { close(gate) }) }
}

// Pass returns at once unless Hold was called since the last Write; then
// it waits for the release, or returns net.ErrClosed when closed is
// closed first.
func (g *Gate) Pass(closed <-chan struct{}) error {
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.gate, g.entered = nil, nil
	g.mu.Unlock()
	if gate == nil {
		return nil
	}
	close(entered)
	select {
	case <-gate:
		return nil
	case <-closed:
		return net.ErrClosed
	}
}

// Spin polls cond until it holds, failing t if it does not within
// timeout. It yields between polls rather than sleeping, for benchmarks:
// a sleep's or a ticker's granularity would dwarf a publish to ten
// subscribers.
func Spin(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TCPPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}
