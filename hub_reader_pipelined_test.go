package fanout_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/stretchr/testify/require"
)

// pipelinedWithin bounds the wait for the answer to a frame that came with
// the handshake: the client sends nothing else, so an answer that waits
// for its next bytes never comes.
const pipelinedWithin = time.Second

// dialPipelined opens a WebSocket to url (ws://host/path?query) by writing
// the upgrade request and frame in ONE write (one TCP segment on
// loopback, with Nagle off, as Go's default is): net/http reads the frame
// ahead with the request, before the Hub hijacks the connection.
func dialPipelined(t testing.TB, url string, frame []byte) *wsPeer {
	t.Helper()
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "ws://"), "/")
	conn, err := net.DialTimeout("tcp", host, waitTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	_, err = conn.Write(append([]byte(req), frame...))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_ = conn.SetDeadline(time.Time{})
	return &wsPeer{t: t, conn: conn, br: br}
}

// TestHub_FramePipelinedWithHandshake: a ping, or a message, that the
// client wrote together with its upgrade request is answered (pong,
// OnMessage) without the client sending anything else: on the poller's
// path (a bare TCP connection, handed to epoll when idle) and on a
// wrapped connection's (a reader goroutine).
func TestHub_FramePipelinedWithHandshake(t *testing.T) {
	t.Parallel()
	for _, path := range hubPaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 1)
			s := path.serve(t, &fanout.HubOptions{
				PingInterval: -1, // no ping of the server's that the client would answer
				OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) {
					got <- string(m.Data())
				},
			})

			t.Run("ping", func(t *testing.T) {
				p := dialPipelined(t, s.url("topic=ping"), cframe(wsFin|wsPing, []byte("hi")))
				start := time.Now()
				f, err := p.next()
				require.NoError(t, err)
				require.Equal(t, sframe(wsPong, []byte("hi")), f.raw, "the pong")
				require.Less(t, time.Since(start), pipelinedWithin, "the pong waited")
			})

			t.Run("message", func(t *testing.T) {
				dialPipelined(t, s.url("topic=message"), cframe(wsFin|wsText, []byte("hello")))
				select {
				case m := <-got:
					require.Equal(t, "hello", m)
				case <-time.After(pipelinedWithin):
					t.Fatalf("OnMessage not called within %v", pipelinedWithin)
				}
			})
		})
	}
}
