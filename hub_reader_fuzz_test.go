package fanout_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// inboundEnv is one Hub, with a Broker attached (its SSE door), served on
// two loopback servers: "plain" (TCP connections the poller watches on
// Linux) and "wrapped" (a listener whose connections are not
// *net.TCPConn, so each subscriber has a reader goroutine), with healthy
// clients that must see nothing of what the fuzzer's clients do. Every
// wait is on a channel (bounded by waitTimeout), none polls, so an
// execution costs a few round trips.
type inboundEnv struct {
	hub            *fanout.Hub
	plain, wrapped *httptest.Server
	ws, sse        chan string   // what the healthy clients of topic t receive
	echo           *wsPeer       // healthy raw client: its messages come back (OnMessage)
	ended          chan struct{} // a subscriber ended (OnDisconnect)
	published      int
}

func newInboundEnv(t testing.TB) *inboundEnv {
	e := &inboundEnv{ws: make(chan string, 16), sse: make(chan string, 16), ended: make(chan struct{}, 16)}
	onDisconnect := func(*fanout.Subscriber, error) {
		select {
		case e.ended <- struct{}{}:
		default: // the healthy ones, at the end
		}
	}
	e.hub = fanout.NewHub(&fanout.HubOptions{
		PingInterval: -1,
		// A client's message goes back to that client alone, so the
		// fuzzer's messages never reach the healthy clients by design.
		OnMessage:    func(_ context.Context, s *fanout.Subscriber, m *fanout.Message) { _ = s.Send(m) },
		OnDisconnect: onDisconnect,
	})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: e.hub, OnDisconnect: onDisconnect})
	mux := http.NewServeMux()
	mux.Handle("/ws", e.hub)
	mux.Handle("/sse", broker)
	e.plain = httptest.NewServer(mux)
	e.wrapped = httptest.NewUnstartedServer(mux)
	e.wrapped.Listener = &countingListener{Listener: e.wrapped.Listener, conns: make(chan *countingConn)}
	e.wrapped.Start()
	t.Cleanup(e.plain.Close)
	t.Cleanup(e.wrapped.Close)
	t.Cleanup(func() { require.NoError(t, e.hub.Close()) }) // before the servers: they wait for streams

	wsURL := "ws" + strings.TrimPrefix(e.plain.URL, "http")
	c := dialCoder(t, wsURL+"/ws?topic=t", nil)
	wsDone := make(chan struct{})
	go func() {
		defer close(wsDone)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			e.ws <- string(b)
		}
	}()
	t.Cleanup(func() { _ = c.CloseNow(); <-wsDone })
	resp := sseGet(t, e.plain.URL+"/sse?topic=t", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sseDone := make(chan struct{})
	go func() {
		defer close(sseDone)
		for ev, err := range sse.Read(resp.Body, nil) {
			if err != nil {
				return
			}
			e.sse <- ev.Data
		}
	}()
	t.Cleanup(func() { _ = resp.Body.Close(); <-sseDone })
	e.echo = dialPeer(t, wsURL+"/ws?topic=echo")
	eventually(t, func() bool { return e.hub.Len() == 3 }, waitTimeout, "healthy clients subscribed")
	return e
}

// healthy publishes one more message to topic t and checks that it is the
// next (and only) thing each healthy client receives, and that the echo
// client's message comes back.
func (e *inboundEnv) healthy(t testing.TB) {
	t.Helper()
	want := strconv.Itoa(e.published)
	require.NoError(t, e.hub.Publish(context.Background(), "t", num(e.published)))
	e.published++
	require.Equal(t, want, recv(t, e.ws, "the healthy WebSocket client's message"))
	require.Equal(t, want, recv(t, e.sse, "the healthy SSE client's event"))
	p := strconv.AppendInt([]byte("echo "), int64(e.published), 10)
	require.NoError(t, e.echo.send(cframe(wsFin|wsText, p), 0))
	f, err := e.echo.next()
	require.NoError(t, err)
	require.Equal(t, sframe(wsText, p), f.raw, "healthy client's echo")
}

// cutPong reports whether junk is whole pong frames and then the start of
// one more (two bytes of it or more, not all): on the poller's path, the
// poller then waits for the rest of that pong, up to 5s, and every idle
// subscriber of the Hub with it (a bug, reported, reproduced by the
// bad-input table's "a pong cut short" row). Until it is fixed, the
// fuzzer closes such a client's side before it checks the healthy
// clients, so that it goes on finding what it does not know yet.
func cutPong(junk []byte) bool {
	for len(junk) >= 2 {
		if junk[0] != wsFin|wsPong || junk[1]&0x80 == 0 || junk[1]&0x7f > 125 {
			return false
		}
		size := 6 + int(junk[1]&0x7f)
		if len(junk) < size {
			return true
		}
		junk = junk[size:]
	}
	return false
}

// FuzzHubInbound sends arbitrary bytes to a Hub after a valid WebSocket
// handshake, or to its Broker after a valid SSE request, on real loopback
// connections, through either server (the poller's path or a wrapped
// connection's, by mode). Whatever the bytes: nothing panics; a
// WebSocket client only ever gets well-formed server frames (no mask,
// minimal lengths, short final control frames); the server closes the
// connection once the client has closed its side (within waitTimeout,
// the suite's bound on every wait: a hang fails), and the subscriber is
// freed; and the healthy clients on the same Hub receive every message
// published meanwhile, and the echo client its echo.
//
// One bug is known and stepped around (see cutPong).
func FuzzHubInbound(f *testing.F) {
	for i, junk := range [][]byte{
		nil,
		cframe(wsFin|wsText, str("hello")),
		cframe(wsFin|wsText, str("bad \xff")),
		cframe(wsFin|wsPing, str("ping")),
		cframe(wsFin|wsPong, str("pong")),
		append([]byte{wsFin | wsPong, 0x80 | 100}, wsMaskKey[:]...), // a pong cut short
		cframe(wsFin|wsClose, closeBody(1000, "bye")),
		cframe(wsFin|wsClose, closeBody(999, "")),
		cframe(wsFin|wsRSV1|wsBinary, []byte{1}),
		cframe(0x3, nil),
		cframe(wsText, str("unfinished")),
		cframeUnmasked(wsFin|wsText, str("unmasked")),
		{wsFin | wsBinary, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, // 2^63-1 bytes declared
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte(strings.Repeat("junk", 1200)),
	} {
		for mode := range uint8(4) {
			f.Add(junk, mode+uint8(4*(i%2)))
		}
	}
	e := newInboundEnv(f)
	f.Fuzz(func(t *testing.T, junk []byte, mode uint8) {
		srv := e.plain
		if mode&1 != 0 {
			srv = e.wrapped
		}
		var conn net.Conn
		var ws *wsPeer
		var br *bufio.Reader
		if mode&2 == 0 {
			var err error
			ws, err = dialPeerErr("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?topic=t", "")
			require.NoError(t, err)
			conn = ws.conn
		} else {
			var err error
			conn, br, err = sseRequest(srv.Listener.Addr().String())
			require.NoError(t, err)
		}
		defer conn.Close()
		_ = conn.SetWriteDeadline(time.Now().Add(waitTimeout))
		_, _ = conn.Write(junk) // the server may have closed already

		// CloseWrite fails when the server has reset the connection already.
		if ws != nil && cutPong(junk) {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
		e.healthy(t)
		_ = conn.(*net.TCPConn).CloseWrite()
		if ws != nil {
			for {
				fr, err := ws.next()
				if errors.Is(err, errEnded) {
					break
				}
				require.NoError(t, err, "after %d bytes of junk (last frame %v)", len(junk), fr)
			}
		} else {
			_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
			_, err := io.Copy(io.Discard, br)
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the SSE stream did not end")
		}
		recv(t, e.ended, "the fuzzed subscriber's end")
	})
}

// sseRequest opens an SSE stream on a raw connection and reads its
// response head, leaving the body to be read from br.
func sseRequest(addr string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c, "GET /sse?topic=t HTTP/1.1\r\nHost: fanout.test\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("SSE request answered %s", resp.Status)
	}
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, br, nil
}
