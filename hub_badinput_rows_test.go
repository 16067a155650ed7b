// The rows of TestBadInput (hub_badinput_table_test.go): WebSocket attacks on
// hub_reader.go and SSE floods and bad Last-Event-IDs on broker.go.

package fanout_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
)

// badInputs is the table of hostile inputs (see hub_badinput_table_test.go).
// Each row's attack asserts the clear status or error it gets.
func badInputs() []badRow {
	return []badRow{
		// WebSocket frames.
		{name: "message over ReadLimit: 1009", attack: wsAttack("topic=t&topic=x",
			[][]byte{whole(wsText, rep('a', 32<<10+1))}, closed(1009))},
		{name: "fragmented message over ReadLimit: 1009", attack: wsAttack("topic=t&topic=x",
			[][]byte{fragment(wsBinary, rep(0xfe, 20<<10)), whole(wsCont, rep(0xfe, 20<<10))}, closed(1009))},
		{name: "fragmented control frame: 1002", attack: wsAttack("topic=t&topic=x",
			[][]byte{cframe(wsPing, str("a")), whole(wsCont, str("b"))}, closed(1002))},
		{name: "text that is not UTF-8: 1007", attack: func(t *testing.T, e *badEnv) {
			p, sub := dialAttacker(t, e, "topic=t&topic=x")
			require.NoError(t, p.send(whole(wsText, notUTF8), 0))
			p.expectSkipping(t, closed(1007))
			assert.ErrorIs(t, e.end(t, sub), fanout.ErrInvalidMessage, "OnDisconnect says why")
		}},
		{name: "text not UTF-8 across fragments: 1007", attack: wsAttack("topic=t&topic=x",
			[][]byte{fragment(wsText, str("fine \xe2\x82")), whole(wsCont, str("\x28 then not"))}, closed(1007))},
		{name: "garbage after the handshake: 1002", attack: wsAttack("topic=t&topic=x",
			[][]byte{[]byte("GET / HTTP/1.1\r\nHost: again\r\n\r\n")}, closed(1002))},
		{name: "unmasked client frame: dropped", attack: wsAttack("topic=t&topic=x",
			[][]byte{cframeUnmasked(wsFin|wsText, str("unmasked"))}, ended())},
		{name: "huge frame declared, then silence: dead peer",
			// The Hub waits for the payload; the client, mid-frame, cannot
			// answer a ping: it is found dead within two PingIntervals.
			opts: func(o *fanout.HubOptions) { o.PingInterval = 500 * time.Millisecond },
			attack: func(t *testing.T, e *badEnv) {
				p, sub := dialAttacker(t, e, "topic=t&topic=x")
				head := append([]byte{wsFin | wsBinary, 0x80 | 127, 0, 0, 1, 0, 0, 0, 0, 0}, wsMaskKey[:]...) // 2^40 bytes
				require.NoError(t, p.send(append(head, 1, 2, 3), 0))
				p.expectSkipping(t, ended()) // reset: the Hub frees it at once
				// OnDisconnect's error is the one of the read that the
				// reset cut short, not errDeadPeer: only its presence is
				// asserted.
				assert.Error(t, e.end(t, sub))
			}},
		// Frames cut short: the poller, which serves every idle client,
		// must not wait for the rest of one.
		{name: "a pong cut short, then silence", attack: cutShort(whole(wsPong, str("pong payload")), 8,
			markerPing, markerPong)},
		{name: "a pong cut after its first byte", attack: cutShort(whole(wsPong, str("pong payload")), 1,
			markerPing, markerPong)},
		{name: "an unmasked pong cut after its first byte: dropped", attack: cutShort(cframeUnmasked(wsFin|wsPong, str("x")), 1,
			nil, ended())},
		{name: "a pong of 126 bytes cut after its first byte: 1002", attack: cutShort(whole(wsPong, rep(0xfe, 126)), 1,
			nil, closed(1002))},
		{name: "a ping cut short, then silence", attack: cutShort(whole(wsPing, str("ping payload")), 8,
			nil, echo(wsPong, str("ping payload")))},
		{name: "a close frame cut short, then silence", attack: cutShort(whole(wsClose, closeBody(1000, "bye")), 5,
			nil, closed(1000))},
		{name: "a data frame header cut short, then silence", attack: cutShort(whole(wsBinary, rep(0xfe, 300)), 3,
			markerPing, markerPong)},
		{name: "a pong cut short, then silence for good: ended", attack: func(t *testing.T, e *badEnv) {
			// A topic of its own: a client that never reads again must not
			// be found slow first.
			p, sub := dialAttacker(t, e, "topic=cut")
			require.NoError(t, p.send(whole(wsPong, str("pong payload"))[:8], 0))
			otherServed(t, e, sub)
			// The rest of the frame is waited for within a read timeout:
			// then the connection ends, that client's alone.
			assert.ErrorIs(t, e.end(t, sub), os.ErrDeadlineExceeded, "OnDisconnect says why")
			p.expectSkipping(t, ended())
		}},

		// Slow and vanishing clients.
		{name: "never-reading client: closed by the slow policy", attack: func(t *testing.T, e *badEnv) {
			c := dialNotReading(t, e.wsURL(e.plain, "topic=t&topic=x"))
			sub := e.attacker(t)
			closed0 := e.hub.Stats().Closed
			for i := 0; e.hub.Stats().Closed == closed0; i++ {
				require.Less(t, i, 1000, "never found slow")
				e.publishX(t, 1, 64<<10)
			}
			closedWithin(t, sub.Done(), "the never-reading subscriber's end")
			if runtime.GOOS == "linux" {
				awaitFreed(t, c) // reset: the kernel dropped what it could not send
			}
		}},
		{name: "reset mid-batch: freed", attack: func(t *testing.T, e *badEnv) {
			victim := dialGorilla(t, e.wsURL(e.wrapped, "topic=t&topic=x"), nil)
			cc := e.wrapped.nextConn(t)
			sub := e.attacker(t)
			entered, release := cc.hold()
			t.Cleanup(release)
			e.publishX(t, 1, 8<<10)
			closedWithin(t, entered, "the victim's writer inside its write")
			e.publishX(t, 50, 8<<10)
			tcp := victim.NetConn().(*net.TCPConn)
			require.NoError(t, tcp.SetLinger(0))
			require.NoError(t, tcp.Close()) // RST, not FIN
			release()
			// Freed: for the reset, or by the slow policy if the
			// publisher filled its queue first.
			closedWithin(t, sub.Done(), "the victim's subscriber's end")
		}},
		{name: "never-reading SSE client: closed by the slow policy", attack: func(t *testing.T, e *badEnv) {
			c := sseStall(t, e.sse, "topic=t&topic=x")
			sub := e.attacker(t)
			closed0 := e.hub.Stats().Closed
			for i := 0; e.hub.Stats().Closed == closed0; i++ {
				require.Less(t, i, 1000, "never found slow")
				e.publishX(t, 1, 64<<10)
			}
			closedWithin(t, sub.Done(), "the never-reading stream's end")
			if runtime.GOOS == "linux" {
				awaitFreed(t, c)
			}
		}},

		// The handshake and the request.
		{name: "cross-origin handshake: 403", attack: func(t *testing.T, e *badEnv) {
			resp := dialStatus(t, e.wsURL(e.plain, "topic=t"), http.Header{"Origin": {"http://evil.example"}})
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Empty(t, e.subs, "no subscriber")
		}},
		{name: "plain GET to the Hub: 426", attack: func(t *testing.T, e *badEnv) {
			resp := sseGet(t, e.plain.srv.URL+"/ws?topic=t", nil)
			assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
			assert.Empty(t, e.subs, "no subscriber")
		}},
		{name: "POST to the Broker: 405", attack: func(t *testing.T, e *badEnv) {
			code, _ := sseRawRequest(t, e.sse, "POST /?topic=t HTTP/1.1\r\nHost: fanout.test\r\nContent-Length: 2\r\n\r\nhi")
			assert.Equal(t, http.StatusMethodNotAllowed, code)
			assert.Empty(t, e.subs, "no subscriber")
		}},
		{name: "endless request body (Content-Length), poller: cut", attack: sseFlood(false, "Content-Length: 1000000000000\r\n")},
		{name: "endless request body (chunked), wrapped: cut", attack: sseFlood(true, "Transfer-Encoding: chunked\r\n")},
		{name: "Last-Event-ID of 64 KiB: resync", attack: sseBadLastID(strings.Repeat("b", 64<<10))},
		{name: "malformed Last-Event-ID: resync", attack: sseBadLastID("not-an-id")},
		{name: "Last-Event-ID over MaxHeaderBytes: 431", attack: func(t *testing.T, e *badEnv) {
			code, _ := sseRawRequest(t, e.sse, "GET /?topic=t HTTP/1.1\r\nHost: fanout.test\r\nLast-Event-ID: "+
				strings.Repeat("z", 2<<20)+"\r\n\r\n")
			assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, code)
			assert.Empty(t, e.subs, "no subscriber")
		}},
		{name: "Last-Event-ID with a control character: 400", attack: func(t *testing.T, e *badEnv) {
			code, _ := sseRawRequest(t, e.sse, "GET /?topic=t HTTP/1.1\r\nHost: fanout.test\r\nLast-Event-ID: a\x01b\r\n\r\n")
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Empty(t, e.subs, "no subscriber")
		}},

		// The application's side.
		{name: "publish after Close: ErrClosed, 503", closes: true, attack: func(t *testing.T, e *badEnv) {
			require.NoError(t, e.hub.Close())
			m := fanout.NewMessage([]byte("late"))
			assert.ErrorIs(t, e.hub.Publish(context.Background(), "t", m), fanout.ErrClosed)
			assert.ErrorIs(t, e.hub.Broadcast(context.Background(), m), fanout.ErrClosed)
			assert.ErrorIs(t, e.broker.Publish(context.Background(), "t", m), fanout.ErrClosed)
			assert.Equal(t, http.StatusServiceUnavailable, dialStatus(t, e.wsURL(e.plain, "topic=t"), nil).StatusCode)
			assert.Equal(t, http.StatusServiceUnavailable, sseGet(t, e.sse.url("topic=t"), nil).StatusCode)
		}},
		{name: "Close during a broadcast: a gap-free prefix", closes: true, attack: func(t *testing.T, e *badEnv) {
			e.awaitAccepted(t, 300)
			require.NoError(t, e.hub.Close())
		}},
		{name: "Shutdown during a broadcast: nothing accepted is lost", closes: true, attack: func(t *testing.T, e *badEnv) {
			e.awaitAccepted(t, 300)
			e.mustHave = int(e.accepted.Load())
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			require.NoError(t, e.hub.Shutdown(ctx))
		}},
	}
}

// dialAttacker opens a raw WebSocket on the plain server (the poller's
// path) and returns it with its subscriber.
func dialAttacker(t *testing.T, e *badEnv, query string) (*wsPeer, *fanout.Subscriber) {
	t.Helper()
	p := dialPeer(t, e.wsURL(e.plain, query))
	return p, e.attacker(t)
}

// cutShort sends the first at bytes of frame on a raw WebSocket, and stays
// silent while another client on the poller is served (see otherServed);
// then it sends the rest, and then, and expects want, skipping the
// publisher's messages before it.
func cutShort(frame []byte, at int, then []byte, want wsExpect) func(*testing.T, *badEnv) {
	return func(t *testing.T, e *badEnv) {
		p, sub := dialAttacker(t, e, "topic=t&topic=x")
		require.NoError(t, p.send(frame[:at], 0))
		otherServed(t, e, sub)
		require.NoError(t, p.send(append(slices.Clone(frame[at:]), then...), 0))
		p.expectSkipping(t, want)
		_ = p.conn.Close()
		closedWithin(t, sub.Done(), "the cut frame's client's end")
	}
}

// otherServed checks that another client on the poller has its ping
// answered while cut, whose client is in the middle of a frame, still
// waits for the rest of it (a read timeout's worth, against the loopback
// round trip of a ping): the poller serves every idle client, and must not
// wait for one.
func otherServed(t *testing.T, e *badEnv, cut *fanout.Subscriber) {
	t.Helper()
	other, otherSub := dialAttacker(t, e, "topic=other")
	require.NoError(t, other.send(markerPing, 0))
	other.expect(t, markerPong)
	assert.True(t, isOpen(cut.Done()), "the client in the middle of a frame still waited for")
	_ = other.conn.Close()
	closedWithin(t, otherSub.Done(), "the other client's end")
}

// wsAttack sends frames on a raw WebSocket that joined query, and expects
// want, skipping the publisher's messages before it; the attacker's
// subscriber must end.
func wsAttack(query string, frames [][]byte, want wsExpect) func(*testing.T, *badEnv) {
	return func(t *testing.T, e *badEnv) {
		p, sub := dialAttacker(t, e, query)
		_ = p.send(bytes.Join(frames, nil), 0) // the server may fail the connection before it has all
		p.expectSkipping(t, want)
		closedWithin(t, sub.Done(), "the attacker's subscriber's end")
	}
}

// expectSkipping is expect for a client of a busy topic: the data frames
// (the publisher's messages) and pings the Hub sends before what is
// expected are skipped.
func (p *wsPeer) expectSkipping(t testing.TB, want wsExpect) {
	t.Helper()
	for {
		f, err := p.next()
		if err == nil && (f.op == wsText || f.op == wsBinary || f.op == wsPing) && !want.matches(f, err) {
			continue
		}
		if !want.matches(f, err) {
			t.Fatalf("want %s, got frame %v (err %v)", want, f, err)
		}
		if want.code != 0 {
			_ = p.send(cframe(wsFin|wsClose, f.payload[:2]), 0) // as a client must
			if f, err := p.next(); !errors.Is(err, errEnded) {
				t.Fatalf("after the close frame: frame %v (err %v), want the end", f, err)
			}
		}
		return
	}
}

// sseFlood sends an endless request body to the Broker (on the wrapped
// server when wrapped: then the bytes the server read are counted).
func sseFlood(wrapped bool, head string) func(*testing.T, *badEnv) {
	return func(t *testing.T, e *badEnv) {
		srv := e.plain
		if wrapped {
			srv = e.wrapped
		}
		c, err := net.Dial("tcp", srv.srv.Listener.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Write([]byte("GET /?topic=t&topic=x HTTP/1.1\r\nHost: fanout.test\r\n" + head + "\r\n"))
		require.NoError(t, err)
		var cc *countingConn
		if wrapped {
			cc = srv.nextConn(t)
		}
		sub := e.attacker(t)
		sent := make(chan error, 1)
		go func() {
			chunk := make([]byte, 64<<10)
			if strings.Contains(head, "chunked") {
				chunk = append([]byte(strconv.FormatInt(int64(len(chunk)), 16)+"\r\n"), append(chunk, "\r\n"...)...)
			}
			for n := 0; n < 256<<20; n += len(chunk) { // far more than the kernel's buffers hold
				if _, err := c.Write(chunk); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		closedWithin(t, sub.Done(), "the flooding client's stream's end")
		assert.Error(t, recv(t, sent, "the flooding writer's end"), "the server stopped taking its bytes")
		if cc != nil {
			assert.Less(t, cc.read.Load(), int64(64<<10), "bytes the server read from the flooding client")
		}
	}
}

// sseBadLastID opens a stream that resumes from id: it gets the resync
// event first, then the live stream.
func sseBadLastID(id string) func(*testing.T, *badEnv) {
	return func(t *testing.T, e *badEnv) {
		st := sseOpen(t, e.sse.url("topic=t&topic=x"), http.Header{"Last-Event-ID": {id}})
		sub := e.attacker(t)
		evs := st.waitN(t, 1)
		assert.Equal(t, sse.Event{Type: fanout.ResyncEvent, Data: "unknown"}, evs[0])
		_ = st.resp.Body.Close()
		closedWithin(t, sub.Done(), "the stream's end once the client left")
	}
}
