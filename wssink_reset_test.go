// A client that does not read is reset, not waited for: the Hub's
// (wssink.go) and the Broker's (ssesink.go) sinks, and SendBufferSize.

package fanout_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// dialNotReading opens a WebSocket to a test server with a raw TCP client
// that has a tiny receive buffer and, after the handshake, never reads
// (so never answers a ping either): the server's writes to it stall once
// the kernel buffers are full. It returns the connection, closed when the
// test ends.
func dialNotReading(t testing.TB, wsURL string) net.Conn {
	t.Helper()
	host, path, _ := strings.Cut(strings.TrimPrefix(wsURL, "ws://"), "/")
	c := dialTinyBuffer(t, host)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	_, err := fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, key)
	require.NoError(t, err)
	// Read the response head a byte at a time, so no frame is read with it.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	var head []byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		var b [1]byte
		_, err := c.Read(b[:])
		require.NoError(t, err, "response head so far: %q", head)
		head = append(head, b[0])
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	require.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), resp.Header.Get("Sec-WebSocket-Accept"))
	return c
}

// tcpState describes a socket as /proc/net/tcp shows it.
type tcpState struct {
	found   bool
	state   string // hex: 01 established, 04 FIN-WAIT-1, 05 FIN-WAIT-2, ...
	txQueue int    // bytes sent but not acknowledged
}

// serverSocket returns the state of the server side of client's
// connection (local address: the client's peer; remote: the client).
func serverSocket(t testing.TB, client net.Conn) tcpState {
	t.Helper()
	// The kernel writes the table a page at a time, and a socket can be
	// missed when others come and go in between: one that is there shows
	// in one of a few reads.
	for range 4 {
		if st := serverSocketOnce(t, client); st.found {
			return st
		}
	}
	return tcpState{}
}

func serverSocketOnce(t testing.TB, client net.Conn) tcpState {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	require.NoError(t, err)
	hexAddr := func(a net.Addr) string {
		ta := a.(*net.TCPAddr)
		ip := ta.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port)
	}
	local, remote := hexAddr(client.RemoteAddr()), hexAddr(client.LocalAddr())
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != local || f[2] != remote {
			continue
		}
		tx, _, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseInt(tx, 16, 64)
		require.NoError(t, err)
		return tcpState{found: true, state: f[3], txQueue: int(n)}
	}
	return tcpState{}
}

// awaitFreed waits until the server's side of client's connection holds
// no data for the client: gone from the kernel's table (reset), or closed
// with nothing left unacknowledged.
func awaitFreed(t *testing.T, client net.Conn) {
	t.Helper()
	var last tcpState
	deadline := time.Now().Add(waitTimeout)
	for {
		if last = serverSocket(t, client); !last.found || last.txQueue == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's socket still lingers after %v: state %s, %d bytes unacknowledged",
				waitTimeout, last.state, last.txQueue)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// TestHub_NotReadingClientIsReset: a connection ended because its peer does
// not read is aborted with a reset, so the kernel frees it and the unsent
// data in its send buffer at once: after the slow-client policy's grace, a
// write timeout, a dead peer, a close handshake it did not answer, and
// Close or Shutdown cutting it. Before, a normal close left the socket
// orphaned in FIN-WAIT-1 with its buffer full, for as long as the peer kept
// the connection open. (A reading peer's close stays orderly: the close
// status tests see its close frame.)
func TestHub_NotReadingClientIsReset(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp")
	}
	t.Parallel()
	const size = 16 << 10
	payload := bytes.Repeat([]byte("x"), size)
	publish := func(t *testing.T, hub *fanout.Hub, n int) {
		for range n {
			require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage(payload)))
		}
	}
	// stuck publishes far more than the kernel's buffers hold (the server's
	// SendBufferSize and the client's receive buffer are small), so that
	// the writer is blocked in a socket write.
	stuck := func(t *testing.T, hub *fanout.Hub) { publish(t, hub, (2<<20)/size) }
	big := fanout.DeliveryOptions{QueueSize: 1 << 20, QueueBytes: 1 << 30, WriteTimeout: -1}
	for _, tc := range []struct {
		name string
		opts fanout.HubOptions
		end  func(t *testing.T, hub *fanout.Hub, sub *fanout.Subscriber)
	}{
		{"policy close of a blocked writer", fanout.HubOptions{DeliveryOptions: fanout.DeliveryOptions{WriteTimeout: -1}},
			func(t *testing.T, hub *fanout.Hub, _ *fanout.Subscriber) {
				stuck(t, hub)
				for i := 0; hub.Stats().Closed == 0; i++ {
					require.Less(t, i, 1000, "never found slow")
					publish(t, hub, 1)
				}
			}},
		{"write timeout", fanout.HubOptions{DeliveryOptions: fanout.DeliveryOptions{
			QueueSize: 1 << 20, QueueBytes: 1 << 30, WriteTimeout: 50 * time.Millisecond}},
			func(t *testing.T, hub *fanout.Hub, _ *fanout.Subscriber) { stuck(t, hub) }},
		// Long enough an interval that the data is out before the peer
		// is found dead (two ticks after it connected, at the soonest).
		{"dead peer", fanout.HubOptions{PingInterval: time.Second},
			func(t *testing.T, hub *fanout.Hub, _ *fanout.Subscriber) { publish(t, hub, 4) }},
		{"close frame unanswered", fanout.HubOptions{DeliveryOptions: big},
			func(t *testing.T, hub *fanout.Hub, sub *fanout.Subscriber) {
				// More than the client's window, less than the server's
				// buffer: every write completes, the data waits unread.
				for i := range 8 {
					require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage(payload[:4<<10])))
					eventually(t, func() bool { return sub.Delivered() == uint64(i+1) }, waitTimeout, "write %d done", i)
				}
				require.NoError(t, sub.Close())
			}},
		{"hub close", fanout.HubOptions{DeliveryOptions: big},
			func(t *testing.T, hub *fanout.Hub, _ *fanout.Subscriber) {
				stuck(t, hub)
				require.NoError(t, hub.Close())
			}},
		{"shutdown cut", fanout.HubOptions{DeliveryOptions: big},
			func(t *testing.T, hub *fanout.Hub, _ *fanout.Subscriber) {
				stuck(t, hub)
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				assert.ErrorIs(t, hub.Shutdown(ctx), context.DeadlineExceeded)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			opts := tc.opts
			opts.OnConnect = onConnect
			opts.SendBufferSize = 64 << 10 // the kernel's buffers fill after a few messages
			if opts.PingInterval == 0 {
				opts.PingInterval = -1
			}
			s := newServer(t, &opts)
			c := dialNotReading(t, s.url("topic=t"))
			sub := recv(t, subs, "subscriber")
			require.True(t, serverSocket(t, c).found, "the server's socket, before")

			tc.end(t, s.hub, sub)
			closedWithin(t, sub.Done(), "subscriber released")
			awaitFreed(t, c)
		})
	}
}

// TestHub_AbortedWriteThenCloseFrameIsReset: a client that does not read
// is still reset when the write the policy's grace interrupted had sent
// nothing (no frame is left half-written) and the close frame then fits in
// the socket's buffer. Before, the close frame's success counted as the
// peer reading: the connection was closed normally behind the data the
// client never read, and the kernel kept the socket, orphaned in
// FIN-WAIT-1 (the soak found it).
func TestHub_AbortedWriteThenCloseFrameIsReset(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp")
	}
	t.Parallel()
	onConnect, subs := connectHook()
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: onConnect, PingInterval: -1,
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 4, WriteTimeout: -1}})
	srv := httptest.NewUnstartedServer(hub)
	ln := &countingListener{Listener: srv.Listener, conns: make(chan *countingConn, 1), netConn: true}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })
	s := &server{hub: hub, srv: srv, conns: ln.conns}

	c := dialNotReading(t, s.url("topic=t"))
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")
	// More than the client's window, less than the server's buffer: the
	// writes complete, the data waits unread.
	payload := bytes.Repeat([]byte("x"), 4<<10)
	for i := range 4 {
		require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage(payload)))
		eventually(t, func() bool { return sub.Delivered() == uint64(i+1) }, waitTimeout, "write %d done", i)
	}
	// The next write waits in the connection until the policy's grace
	// has run out and aborted it: it then sends nothing.
	entered, release := cc.hold()
	require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage(payload)))
	closedWithin(t, entered, "the writer inside its write")
	for i := 0; hub.Stats().Closed == 0; i++ {
		require.Less(t, i, 100, "never found slow")
		require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage(payload)))
	}
	closedWithin(t, cc.pastDeadline, "the write aborted")
	release()
	closedWithin(t, sub.Done(), "subscriber released")
	awaitFreed(t, c)
}

// TestBroker_NotReadingClientIsReset: the same for an SSE stream the
// Broker took over, closed by the slow-client policy once a write stalls
// past WriteTimeout.
func TestBroker_NotReadingClientIsReset(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp")
	}
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1, DeliveryOptions: fanout.DeliveryOptions{
		QueueSize: 1 << 20, QueueBytes: 1 << 30, WriteTimeout: 100 * time.Millisecond}}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	c := sseStall(t, s, "topic=t")
	sub := h.sub(t)
	// More than the kernel's largest buffers (tcp_wmem allows 4 MiB): the
	// writer blocks, for WriteTimeout, then the policy closes the stream.
	payload := bytes.Repeat([]byte("x"), 64<<10)
	for range (16 << 20) / len(payload) {
		require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage(payload)))
	}
	closedWithin(t, sub.Done(), "subscriber released")
	assert.Positive(t, s.broker.Stats().Timeouts)
	awaitFreed(t, c)
}

// TestBroker_PolicyCloseOfIdleWriterIsReset: an SSE stream whose client
// does not read, closed by the slow-client policy while its writer is not
// in a write (a burst filled the queue before the writer ran; every
// earlier write went into the kernel's buffers), is reset too. Before, it
// was closed normally: its FIN waited behind the unsent events, so the
// client never learnt it was closed and the kernel kept the orphaned
// socket and its data (found by the soak).
func TestBroker_PolicyCloseOfIdleWriterIsReset(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/tcp")
	}
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1, DeliveryOptions: fanout.DeliveryOptions{
		QueueSize: 2, WriteTimeout: -1}}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	c := sseStall(t, s, "topic=t")
	sub := h.sub(t)
	// Less than the server's send buffer holds: each write completes, and
	// the data waits, unacknowledged, for a client that does not read.
	ev := fanout.NewMessage(bytes.Repeat([]byte("x"), 2<<10))
	for i := range 16 {
		require.NoError(t, s.broker.Publish(sseCtx, "t", ev))
		eventually(t, func() bool { return sub.Delivered() == uint64(i+1) }, waitTimeout, "write %d done", i)
	}
	require.Positive(t, serverSocket(t, c).txQueue, "data waits unacknowledged")
	for i := 0; isOpen(sub.Done()); i++ { // a burst: the queue fills before the writer runs
		// (or, at worst, once the kernel's buffers are full: 4 MiB)
		require.Less(t, i, 8<<10, "never found slow")
		require.NoError(t, s.broker.Publish(sseCtx, "t", ev))
	}
	closedWithin(t, sub.Done(), "subscriber released")
	assert.Positive(t, s.broker.Stats().Closed)
	awaitFreed(t, c)
}

// TestBroker_SendBufferSize: a Broker's SendBufferSize (or, attached, its
// Hub's) bounds what the kernel takes for a client that does not read, so
// the writer blocks, and the write times out, after a few events instead
// of megabytes of them.
func TestBroker_SendBufferSize(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux's buffer sizes")
	}
	t.Parallel()
	delivery := fanout.DeliveryOptions{QueueSize: 1 << 20, QueueBytes: 1 << 30, WriteTimeout: 100 * time.Millisecond}
	for _, tc := range []struct {
		name string
		opts func() fanout.BrokerOptions
	}{
		{"own", func() fanout.BrokerOptions {
			return fanout.BrokerOptions{DeliveryOptions: delivery, SendBufferSize: 8 << 10}
		}},
		{"the hub's", func() fanout.BrokerOptions {
			hub := fanout.NewHub(&fanout.HubOptions{DeliveryOptions: delivery, SendBufferSize: 8 << 10})
			t.Cleanup(func() { _ = hub.Close() })
			return fanout.BrokerOptions{Hub: hub}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts()
			opts.Heartbeat = -1
			h := newSSEHooks(&opts)
			s := newSSEServer(t, &opts)
			sseStall(t, s, "topic=t")
			sub := h.sub(t)
			payload := bytes.Repeat([]byte("x"), 16<<10)
			for range 256 { // 4 MiB: what the kernel's own buffers could take
				require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage(payload)))
			}
			closedWithin(t, sub.Done(), "subscriber released")
			assert.Positive(t, s.broker.Stats().Timeouts)
			assert.Less(t, sub.Delivered(), uint64(8), "events written before the write timed out (128 KiB)")
		})
	}
}
