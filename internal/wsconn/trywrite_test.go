package wsconn_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/testkit"
	"github.com/fanout-go/fanout/internal/wsconn"
)

// stalledPair returns a loopback TCP connection with small buffers, whose
// client does not read until told, as a wsconn.Conn's server side.
func stalledPair(t *testing.T) (client *net.TCPConn, server *net.TCPConn, c *wsconn.Conn) {
	t.Helper()
	client, server = testkit.TCPPair(t)
	_ = client.SetReadBuffer(4 << 10)
	sock.SetSendBuffer(server, 4<<10)
	return client, server, wsconn.New(server)
}

// TestStalledWriteTimesOut: once the peer stops reading and the socket's
// buffers are full, a write of small frames (those written without a
// deadline while they fit) fails after waiting its timeout, not sooner
// and not much later, with os.ErrDeadlineExceeded, counting the frame it
// cut; once the peer reads again, that frame's tail goes first. Earlier
// writes, the first of which cleared a deadline left from before
// (net/http's WriteTimeout), did not time out.
func TestStalledWriteTimesOut(t *testing.T) {
	client, server, c := stalledPair(t)
	_ = server.SetWriteDeadline(time.Now().Add(-time.Second)) // as net/http may leave it, passed
	const timeout = 300 * time.Millisecond
	frame := bytes.Repeat([]byte{'x'}, 1000)
	// If the write never timed out, this ends it (as net.ErrClosed).
	watchdog := time.AfterFunc(20*timeout, func() { _ = server.Close() })
	defer watchdog.Stop()
	frames := 0 // frames sent, whole or cut
	for i := 0; ; i++ {
		if i == 100_000 {
			t.Fatal("100 MB written to a peer that does not read")
		}
		start := time.Now()
		sent, n, err := c.WriteFrames([][]byte{frame}, false, timeout)
		elapsed := time.Since(start)
		frames += sent
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write %d failed after %v with %v, want a write timeout after %v", i, elapsed, err, timeout)
		}
		if elapsed < timeout || elapsed > timeout+3*time.Second {
			t.Fatalf("write %d timed out after %v, want %v", i, elapsed, timeout)
		}
		if want := min(n, 1); sent != want {
			t.Fatalf("write %d cut after %d bytes counted %d frames, want %d", i, n, sent, want)
		}
		break
	}
	watchdog.Stop()

	next := []byte("next")
	want := append(bytes.Repeat(frame, frames), next...)
	got := make(chan []byte, 1)
	go func() { got <- readN(t, client, len(want)) }()
	if _, _, err := c.WriteFrames([][]byte{next}, false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the peer read %d bytes, not %d frames then %q", len(b), frames, next)
	}
}

// TestWriteAfterIdle: a write that had to wait clears its deadline once
// done: a write after an idle spell longer than the timeout goes through.
func TestWriteAfterIdle(t *testing.T) {
	client, _, c := stalledPair(t)
	const timeout = time.Second
	got := make(chan []byte, 1)
	write := func(p []byte) {
		t.Helper()
		go func() { got <- readN(t, client, len(p)) }()
		if _, _, err := c.WriteFrames([][]byte{p}, false, timeout); err != nil {
			t.Fatalf("write of %d bytes: %v", len(p), err)
		}
		if b := <-got; !bytes.Equal(b, p) {
			t.Fatalf("peer read other bytes than the %d written", len(p))
		}
	}
	write([]byte("first"))
	write(bytes.Repeat([]byte{'x'}, 64<<10)) // more than the buffers: it waits for the reader
	<-time.After(timeout + timeout/4)        // the time passing is what is tested
	write([]byte("after an idle spell"))
}

// TestAbortInterruptsStalledWrite: Abort ends a write blocked on a full
// socket at once, long before its timeout, with ErrAborted.
func TestAbortInterruptsStalledWrite(t *testing.T) {
	_, server, c := stalledPair(t)
	frame := bytes.Repeat([]byte{'x'}, 1000)
	var writes atomic.Int64
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.WriteFrames([][]byte{frame}, false, time.Minute); err != nil {
				done <- err
				return
			}
			writes.Add(1)
		}
	}()
	// Blocked: a write in progress, and no write has completed for a
	// while (polled: the condition is the writer's state).
	last, since := writes.Load(), time.Now()
	testkit.Spin(t, 10*time.Second, func() bool {
		if n := writes.Load(); n != last {
			last, since = n, time.Now()
		}
		return c.Writing() && time.Since(since) > 100*time.Millisecond
	}, "a blocked write")
	c.Abort()
	select {
	case err := <-done:
		if !errors.Is(err, wsconn.ErrAborted) {
			t.Fatalf("the aborted write failed with %v, want ErrAborted", err)
		}
	case <-time.After(5 * time.Second):
		_ = server.Close()
		<-done
		t.Fatal("Abort did not interrupt the blocked write")
	}
}

// TestWriteFramesAllocs: a small write, the common case, allocates nothing.
func TestWriteFramesAllocs(t *testing.T) {
	client, server := testkit.TCPPair(t)
	c := wsconn.New(server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, client)
	}()
	bufs := [][]byte{make([]byte, 12), make([]byte, 30), make([]byte, 64)}
	// AllocsPerRun counts the whole process's allocations: a goroutine
	// of an earlier test still ending (or the reader's pooled buffer,
	// which the race detector's sync.Pool drops at random) can add one
	// to a run. A write that allocates adds one to every run, so the
	// best of a few runs tells.
	var seen []float64
	for range 5 {
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := c.WriteFrames(bufs, true, time.Second); err != nil {
				t.Fatal(err)
			}
		})
		if seen = append(seen, allocs); allocs == 0 {
			break
		}
	}
	_ = server.Close()
	<-done
	if slices.Min(seen) != 0 {
		t.Fatalf("allocations per write in %d runs of 100: %v, want 0 in one", len(seen), seen)
	}
}
