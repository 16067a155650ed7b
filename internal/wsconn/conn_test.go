package wsconn_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/testkit"
	"github.com/fanout-go/fanout/internal/wsconn"
	"github.com/fanout-go/fanout/internal/wsframe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readN reads n bytes from c within a deadline.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// TestWriteFrames: the frames of one call reach the peer whole and in
// order, over writev (TCP) and over a connection without it (a pipe).
func TestWriteFrames(t *testing.T) {
	a := wsframe.Control(wsframe.OpPing, []byte("a"))
	b := wsframe.Control(wsframe.OpPing, []byte("bc"))
	want := append(append([]byte(nil), a...), b...)
	t.Run("tcp", func(t *testing.T) {
		client, server := testkit.TCPPair(t)
		c := wsconn.New(server)
		sent, n, err := c.WriteFrames([][]byte{a, b}, false, time.Second)
		if err != nil || sent != 2 || n != len(want) {
			t.Fatalf("WriteFrames = %d, %d, %v; want 2, %d, nil", sent, n, err, len(want))
		}
		if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("peer read %x, want %x", got, want)
		}
	})
	t.Run("tcp-large", func(t *testing.T) { // over the flat-copy size: writev
		big := wsframe.Control(wsframe.OpPing, []byte("d"))
		big = append(big, bytes.Repeat([]byte{'x'}, 8<<10)...) // the peer reads bytes, not frames
		want := append(append([]byte(nil), a...), big...)
		client, server := testkit.TCPPair(t)
		c := wsconn.New(server)
		done := make(chan []byte)
		go func() { done <- readN(t, client, len(want)) }()
		sent, n, err := c.WriteFrames([][]byte{a, big}, false, time.Second)
		if err != nil || sent != 2 || n != len(want) {
			t.Fatalf("WriteFrames = %d, %d, %v; want 2, %d, nil", sent, n, err, len(want))
		}
		if got := <-done; !bytes.Equal(got, want) {
			t.Fatal("peer read other bytes than were written")
		}
	})
	t.Run("pipe", func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		c := wsconn.New(server)
		defer c.Close()
		done := make(chan []byte)
		go func() { done <- readN(t, client, len(want)) }()
		sent, _, err := c.WriteFrames([][]byte{a, b}, true, time.Second)
		if err != nil || sent != 1 {
			t.Fatalf("WriteFrames(oneFrame) = %d, %v; want 1, nil", sent, err)
		}
		if got := <-done; !bytes.Equal(got, want) {
			t.Fatalf("peer read %x, want %x", got, want)
		}
	})
}

// TestCloseFrameEndsData: once a close frame went through Write, no data
// frame follows it, and Clean says so.
func TestCloseFrameEndsData(t *testing.T) {
	client, server := testkit.TCPPair(t)
	c := wsconn.New(server)
	if !c.Clean() {
		t.Fatal("Clean = false on a new connection")
	}
	closeFrame := wsframe.Close(1000, "bye")
	if _, err := c.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.WriteFrames([][]byte{wsframe.Control(wsframe.OpPing, nil)}, false, time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteFrames after a close frame: %v, want net.ErrClosed", err)
	}
	if c.Clean() {
		t.Fatal("Clean = true after a close frame")
	}
	if got := readN(t, client, len(closeFrame)); !bytes.Equal(got, closeFrame) {
		t.Fatalf("peer read %x, want the close frame %x", got, closeFrame)
	}
}

// TestAbort: after Abort every data write fails with ErrAborted, while
// WriteClose still says goodbye.
func TestAbort(t *testing.T) {
	client, server := testkit.TCPPair(t)
	c := wsconn.New(server)
	c.Abort()
	if !c.Aborted() {
		t.Fatal("Aborted = false after Abort")
	}
	if _, _, err := c.WriteFrames([][]byte{[]byte("x")}, false, time.Second); !errors.Is(err, wsconn.ErrAborted) {
		t.Fatalf("WriteFrames after Abort: %v, want ErrAborted", err)
	}
	if err := c.WriteClose(1001, "going away", wsconn.CloseWriteTimeout); err != nil {
		t.Fatal(err)
	}
	want := wsframe.Close(1001, "going away")
	if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("peer read %x, want %x", got, want)
	}
}

// TestCutFrameIsFinished: a frame a write timeout cut is finished before
// any later byte, so the stream the peer reads stays well formed.
func TestCutFrameIsFinished(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := wsconn.New(server)
	defer c.Close()
	frame := bytes.Repeat([]byte{7}, 64)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 16) // read part of the frame, then stop reading
		_, _ = io.ReadFull(client, b)
		got <- b
	}()
	sent, n, err := c.WriteFrames([][]byte{frame}, false, 200*time.Millisecond)
	if err == nil || sent != 1 || n != 16 {
		t.Fatalf("cut write = %d, %d, %v; want 1 frame counted, 16 bytes, a timeout", sent, n, err)
	}
	<-got
	next := []byte("next")
	go func() { got <- readN(t, client, len(frame)-16+len(next)) }()
	if _, _, err := c.WriteFrames([][]byte{next}, false, time.Second); err != nil {
		t.Fatal(err)
	}
	want := append(frame[16:], next...)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("peer read %x after the cut, want the frame's tail then the next: %x", b, want)
	}
}

// TestHijackedBytesAndUnread: bytes put back are read first, then the
// socket's; HasPending and DropPending see them.
func TestHijackedBytesAndUnread(t *testing.T) {
	client, server := testkit.TCPPair(t)
	c := wsconn.New(server)
	if c.HasPending() {
		t.Fatal("HasPending on a new connection")
	}
	c.Unread([]byte("cd"))
	c.Unread([]byte("ab"))
	if !c.HasPending() {
		t.Fatal("HasPending = false after Unread")
	}
	if _, err := client.Write([]byte("ef")); err != nil {
		t.Fatal(err)
	}
	if got := string(readN(t, c, 6)); got != "abcdef" {
		t.Fatalf("read %q, want abcdef", got)
	}
	c.Unread([]byte("xyz"))
	if n := c.DropPending(); n != 3 || c.HasPending() {
		t.Fatalf("DropPending = %d (HasPending %v), want 3 (false)", n, c.HasPending())
	}
}

func maskedPong(p []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{wsframe.Fin | wsframe.OpPong, 0x80 | byte(len(p)), 1, 2, 3, 4}
	for i, b := range p {
		f = append(f, b^mask[i%4])
	}
	return f
}

func rawConn(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// waitBytes waits until n bytes are readable on c, peeking.
func waitBytes(t *testing.T, c *net.TCPConn, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got int
		_ = rawConn(t, c).Read(func(fd uintptr) bool {
			b := make([]byte, n)
			got, _, _ = syscall.Recvfrom(int(fd), b, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return true
		})
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes never arrived (%d did)", n, got)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// TestTakePongs: whole pongs are taken off the socket and unmasked; a
// pong that arrived in part is IdlePong; anything else is left for the
// WebSocket library (IdleMessage); nothing is IdleNone.
func TestTakePongs(t *testing.T) {
	client, server := testkit.TCPPair(t)
	rc := rawConn(t, server)
	var got []string
	pong := func(p []byte) { got = append(got, string(p)) }
	if st := wsconn.TakePongs(rc, pong); st != wsconn.IdleNone {
		t.Fatalf("empty socket: %v, want IdleNone", st)
	}
	two := append(maskedPong([]byte("p1")), maskedPong([]byte("p2"))...)
	_, _ = client.Write(two)
	waitBytes(t, server, len(two))
	if st := wsconn.TakePongs(rc, pong); st != wsconn.IdleNone || len(got) != 2 || got[0] != "p1" || got[1] != "p2" {
		t.Fatalf("two pongs: %v, %q; want IdleNone, [p1 p2]", st, got)
	}
	half := maskedPong([]byte("p3"))
	_, _ = client.Write(half[:3])
	waitBytes(t, server, 3)
	if st := wsconn.TakePongs(rc, pong); st != wsconn.IdlePong {
		t.Fatalf("a pong in part: %v, want IdlePong", st)
	}
	_, _ = client.Write(half[3:])
	c := wsconn.New(server)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if st, err := wsconn.ReadPong(c, pong); err != nil || st != wsconn.IdleNone || got[2] != "p3" {
		t.Fatalf("ReadPong: %v, %v, %q; want IdleNone, nil, p3", st, err, got)
	}
	ping := wsframe.Control(wsframe.OpPing, nil)
	_, _ = client.Write(ping)
	waitBytes(t, server, len(ping))
	if st := wsconn.TakePongs(rc, pong); st != wsconn.IdleMessage {
		t.Fatalf("a ping: %v, want IdleMessage", st)
	}
}

// TestReadPongPutsBack: a frame that is no pong the idle reader takes is
// put back whole for the WebSocket library to read.
func TestReadPongPutsBack(t *testing.T) {
	client, server := testkit.TCPPair(t)
	c := wsconn.New(server)
	unmasked := []byte{wsframe.Fin | wsframe.OpPong, 1, 'x'}
	_, _ = client.Write(unmasked)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	st, err := wsconn.ReadPong(c, func([]byte) { t.Error("an unmasked pong was taken") })
	if err != nil || st != wsconn.IdleMessage {
		t.Fatalf("ReadPong(unmasked) = %v, %v; want IdleMessage, nil", st, err)
	}
	if got := readN(t, c, len(unmasked)); !bytes.Equal(got, unmasked) {
		t.Fatalf("read back %x, want %x", got, unmasked)
	}
}

// abortingConn calls abort as a close frame enters the socket: an Abort
// from another goroutine (Hub.Close) landing while the close frame is
// being written (Shutdown's close handshake, or Close's own WriteClose).
type abortingConn struct {
	*net.TCPConn
	abort func()
}

func (a *abortingConn) Write(p []byte) (int, error) {
	if wsframe.IsClose(p) {
		a.abort()
	}
	return a.TCPConn.Write(p)
}

// TestAbortSparesCloseFrame: an Abort that lands while a close frame is
// being written does not cut it (it bounds it by CloseWriteTimeout
// instead): the peer still reads why the connection ends.
func TestAbortSparesCloseFrame(t *testing.T) {
	want := wsframe.Close(1001, "going away")
	for name, write := range map[string]func(c *wsconn.Conn) error{
		"handshake": func(c *wsconn.Conn) error { _, err := c.Write(want); return err },
		"WriteClose": func(c *wsconn.Conn) error {
			return c.WriteClose(1001, "going away", wsconn.CloseWriteTimeout)
		},
	} {
		t.Run(name, func(t *testing.T) {
			client, server := testkit.TCPPair(t)
			var c *wsconn.Conn
			c = wsconn.New(&abortingConn{TCPConn: server, abort: func() { c.Abort() }})
			if err := write(c); err != nil {
				t.Fatalf("close frame with an Abort landing during its write: %v", err)
			}
			if !c.Aborted() {
				t.Fatal("Aborted = false")
			}
			if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
				t.Fatalf("peer read %x, want %x", got, want)
			}
		})
	}
}

// BenchmarkWriteFrames_Small writes one message as a subscriber's writer
// does when every message is its own write (a topic with few subscribers,
// a sequential publisher): three small slices (frame header, ID record,
// payload) to a loopback TCP peer that discards them. cpu-ns/op is the
// process's CPU time (both ends) per write; writer-cpu-ns/op the writing
// thread's alone, which other processes' load disturbs less.
func BenchmarkWriteFrames_Small(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	client, server := testkit.TCPPair(b)
	c := wsconn.New(server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, client)
	}()
	bufs := [][]byte{make([]byte, 12), make([]byte, 30), make([]byte, 64)}
	start, startThread := cpuTime(), threadCPUTime()
	for b.Loop() {
		if _, _, err := c.WriteFrames(bufs, true, time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64((threadCPUTime()-startThread).Nanoseconds())/float64(b.N), "writer-cpu-ns/op")
	_ = server.Close()
	<-done
}

// threadCPUTime is the calling thread's CPU time (Linux; elsewhere the
// process's).
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru) != nil {
		return cpuTime()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
