package redis_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// TestPolicyBlock_AcrossNodes: with the Redis engine, PolicyBlock holds
// back the publishers of the node that has the stalled subscriber, and
// only them: a Publish there waits for room and fails with its context's
// error; a Publish on another node never waits (its messages reach the
// stalled subscriber through Redis, where they cannot), and once they fill
// its queue to twice QueueSize the subscriber is closed, as PolicyClose
// would, so that it resumes.
func TestPolicyBlock_AcrossNodes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := func() *fanout.HubOptions {
		return &fanout.HubOptions{PingInterval: -1, SendBufferSize: 4 << 10,
			DeliveryOptions: fanout.DeliveryOptions{Policy: fanout.PolicyBlock, QueueSize: 4, WriteTimeout: -1}}
	}
	oa := opts()
	oa.Engine = newEngine(t, "a", nil, srv.Addr())
	a := fanout.NewHub(oa)
	t.Cleanup(func() { _ = a.Close() })
	ob := opts()
	engB := newEngine(t, "b", nil, srv.Addr())
	ob.Engine = engB
	b := fanout.NewHub(ob)
	t.Cleanup(func() { _ = b.Close() })
	sb := httptest.NewServer(b)
	t.Cleanup(sb.Close)

	dialStalled(t, sb.Listener.Addr().String(), "/?topic=t")
	eventually(t, func() bool { return b.NumSubscribers("t") == 1 }, "the stalled subscriber")
	big := fanout.NewMessage(bytes.Repeat([]byte("x"), 64<<10)) // more than the kernel's buffers hold
	ctx := context.Background()

	// On its node: the writer is stuck in the first message (or two),
	// four queue, and the next publish waits for room until its context
	// ends. A publish counts what has reached the queue: each is let
	// through Redis and back before the next (one on its way is not
	// waited for; see PolicyBlock).
	var blocked error
	for i := 0; i < 8 && blocked == nil; i++ {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		blocked = b.Publish(pctx, "t", big)
		cancel()
		if blocked == nil {
			eventually(t, func() bool { return engB.Stats().Delivered == uint64(i+1) }, "the message through Redis")
		}
	}
	if !errors.Is(blocked, context.DeadlineExceeded) {
		t.Fatalf("a Publish on the stalled subscriber's node: %v, want it to wait and fail with context.DeadlineExceeded", blocked)
	}
	if st := b.Stats(); st.Closed != 0 {
		t.Fatalf("closed %d before any message from another node", st.Closed)
	}

	// From another node: never waits; the subscriber is closed at twice
	// QueueSize.
	for range 2*4 + 2 {
		pctx, cancel := context.WithTimeout(ctx, waitTimeout)
		err := a.Publish(pctx, "t", big)
		cancel()
		if err != nil {
			t.Fatalf("a Publish on the other node: %v", err)
		}
	}
	eventually(t, func() bool { return b.Stats().Closed == 1 }, "the stalled subscriber closed at twice QueueSize")
	eventually(t, func() bool { return b.NumSubscribers("t") == 0 }, "the subscriber gone")
}

// dialStalled opens a WebSocket with a raw client that has a tiny receive
// buffer and never reads after the handshake.
func dialStalled(t *testing.T, addr, path string) {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr)
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReaderSize(oneByteReader{c}, 1), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_ = c.SetReadDeadline(time.Time{})
}

// oneByteReader reads one byte at a time, so that nothing after the
// response head is read.
type oneByteReader struct{ c net.Conn }

func (r oneByteReader) Read(p []byte) (int, error) { return r.c.Read(p[:1]) }
