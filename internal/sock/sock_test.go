package sock_test

import (
	"errors"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/testkit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

// TestReader_FiresRearmsStops: the callback runs when the peer sends, not
// before; after Rearm it runs again on the next bytes; Stop ends it.
func TestReader_FiresRearmsStops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no poller")
	}
	p, err := sock.NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client, server := testkit.TCPPair(t)
	rc, ok := sock.Pollable(server)
	if !ok {
		t.Fatal("a TCP connection is not pollable")
	}
	got := make(chan string, 4)
	r := sock.StartReader(p, rc, func(r *sock.Reader) sock.Result {
		var b [16]byte
		n, err := sock.RecvNow(r.RC(), b[:], false)
		if err != nil {
			got <- "err: " + err.Error()
			return sock.Stopped
		}
		got <- string(b[:n])
		return sock.Rearm
	})
	if r == nil {
		t.Fatal("StartReader: nil")
	}
	for _, msg := range []string{"one", "two"} {
		if _, err := client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != msg {
				t.Fatalf("read %q, want %q", s, msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no callback for %q", msg)
		}
	}
	r.Stop()
	within(t, r.Done(), "Done after Stop")
}

// TestRecvNow_PeekAndEOF: a peek leaves the bytes, nothing waiting reads 0,
// the peer's close reads io.EOF.
func TestRecvNow_PeekAndEOF(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no MSG_PEEK")
	}
	client, server := testkit.TCPPair(t)
	rc, _ := sock.Pollable(server)
	var b [8]byte
	if n, err := sock.RecvNow(rc, b[:], true); n != 0 || err != nil {
		t.Fatalf("nothing sent: %d, %v", n, err)
	}
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := sock.RecvNow(rc, b[:], true)
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bytes sent never arrived")
		}
		runtime.Gosched()
	}
	if n, err := sock.RecvNow(rc, b[:], false); n != 2 || err != nil || string(b[:2]) != "hi" {
		t.Fatalf("after a peek: %d %q, %v", n, b[:n], err)
	}
	client.Close()
	for {
		_, err := sock.RecvNow(rc, b[:], false)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the peer's close: %v", err)
		}
		runtime.Gosched()
	}
}

// TestAbortOnClose: the peer of a connection closed after AbortOnClose
// reads a reset, not an end of stream.
func TestAbortOnClose(t *testing.T) {
	client, server := testkit.TCPPair(t)
	sock.AbortOnClose(server)
	server.Close()
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := client.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the peer read %v, want a reset", err)
	}
}
