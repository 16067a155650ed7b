package fanout_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestBroker_FloodingClientIsCut: an SSE client that keeps sending after
// its request (here an endless request body) is not an EventSource. The
// Broker reads a few KiB of it at most, then closes that stream, instead of
// reading and discarding it for ever (a core per such client, before);
// the other clients stream on.
func TestBroker_FloodingClientIsCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, head string }{
		{"content-length", "Content-Length: 1000000000000\r\n"},
		{"chunked", "Transfer-Encoding: chunked\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := fanout.BrokerOptions{Heartbeat: -1}
			h := newSSEHooks(&opts)
			s := newSSECountingServer(t, &opts)
			good := sseOpen(t, s.url("topic=t"), nil)
			s.nextConn(t)
			h.sub(t)

			c, err := net.Dial("tcp", s.srv.Listener.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			_, err = c.Write([]byte("GET /?topic=t HTTP/1.1\r\nHost: fanout.test\r\n" + tc.head + "\r\n"))
			require.NoError(t, err)
			server := s.nextConn(t)
			flooder := h.sub(t)

			const limit = 256 << 20 // far more than the kernel's buffers hold
			sent := make(chan error, 1)
			go func() {
				chunk := make([]byte, 64<<10)
				if tc.name == "chunked" {
					chunk = append([]byte(strconv.FormatInt(int64(len(chunk)), 16)+"\r\n"), append(chunk, "\r\n"...)...)
				}
				for n := 0; n < limit; n += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()

			for i := range 20 {
				require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
			}
			assert.Equal(t, nums(0, 20), sseData(good.waitN(t, 20)), "the other client streams on")

			closedWithin(t, flooder.Done(), "the flooding client's stream ended")
			assert.Error(t, recv(t, sent, "the flooding writer's end"), "the server stopped taking its bytes")
			assert.Less(t, server.read.Load(), int64(64<<10), "bytes the server read from the flooding client")
			assert.Equal(t, 1, s.broker.Len())
		})
	}
}
