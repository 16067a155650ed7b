// The Hub against RFC 6455 (hub.go, hub_reader.go, wssink.go), with a raw
// client (helpers_wire_test.go) and the cases in hub_conformance_cases_test.go.

package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// The server side of RFC 6455, case by case, as the Autobahn test suite's
// server cases probe it where they apply to a fan-out server: the Hub
// echoes each message a client sends (OnMessage publishes it to the
// client's own topic), so what it read is seen on the wire. Every answer is
// checked byte for byte with the raw client of helpers_wire_test.go.
//
// Each case runs on both of the Hub's reading paths: "poller", a plain TCP
// connection, where on Linux an epoll poller watches the idle socket and
// takes pong frames off it itself (internal/wsconn, TakePongs); and "wrapped", a listener
// whose connections are not *net.TCPConn, so coder/websocket reads every
// frame. Section numbers are Autobahn's; "rfc" cases check a MUST of the
// RFC that Autobahn has no case for.
//
// Where coder/websocket decides (it does the framing, control frames and
// the close handshake of a connection the Hub accepted), the case asserts
// what it does. Where that, or fanout, departs from the RFC, the case says
// so in its name or comment:
//
//   - 7.5.1 (coder/websocket): a close reason that is not UTF-8 is echoed,
//     where RFC 6455, 8.1 asks to fail the connection.
//   - 6.* (fanout): a text message is validated whole, once it has been
//     read, so an invalid fragment fails the connection at the message's
//     end, not at once (Autobahn's "non-strict"; the RFC sets no time).
//     fanout then closes with 1007 through the close handshake, waiting
//     (up to 5s) for the client's close frame, where 7.1.7 would have it
//     close the TCP connection at once.
//   - A message sent right before a frame that fails the connection may
//     not be echoed: OnMessage publishes it, the subscriber's writer sends
//     it, and the reader may fail the connection first (maybe).
//   - Allowed by the RFC: an unmasked frame, or a 64-bit length with its
//     top bit set, ends the connection without a close frame (a close
//     frame is optional there); a length not minimally encoded is accepted
//     (the minimal encoding is the sender's MUST).

// wsCase is one conformance case.
type wsCase struct {
	sec  string   // Autobahn's case number, or "rfc 5.1" and the like
	name string   // what is sent
	send [][]byte // client frames (or raw bytes), sent back to back
	chop int      // write in pieces of chop bytes (1: octet by octet); -1: frame by frame; 0: at once
	want []wsExpect

	defaultLimit bool // on a Hub with the default ReadLimit (32 KiB), not 1 MiB
}

// confReadLimit is the conformance Hubs' ReadLimit: Autobahn's 9.* sizes
// up to 1 MiB pass; one more byte fails with 1009.
const confReadLimit = 1 << 20

// TestConformance_RFC6455 runs every case on both reading paths.
func TestConformance_RFC6455(t *testing.T) {
	t.Parallel()
	cases := wsCases()
	counts := map[string]int{}
	for _, c := range cases {
		counts[wsSection(c.sec)]++
	}
	var secs []string
	for s, n := range counts {
		secs = append(secs, fmt.Sprintf("%s: %d", s, n))
	}
	sort.Strings(secs)
	t.Logf("%d cases per path (%s)", len(cases), strings.Join(secs, ", "))

	for _, path := range hubPaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			hubs := map[bool]*server{}
			for _, def := range []bool{false, true} {
				var hub *fanout.Hub
				opts := &fanout.HubOptions{
					ReadLimit:    confReadLimit,
					PingInterval: -1, // no ping of the server's among the frames checked
					OnMessage: func(ctx context.Context, s *fanout.Subscriber, m *fanout.Message) {
						_ = hub.Publish(ctx, s.Topics()[0], m)
					},
				}
				if def {
					opts.ReadLimit = 0
				}
				s := path.serve(t, opts)
				hub = s.hub
				hubs[def] = s
			}
			for i, c := range cases {
				t.Run(c.sec+" "+c.name, func(t *testing.T) {
					t.Parallel()
					p := dialPeer(t, hubs[c.defaultLimit].url("topic=c"+strconv.Itoa(i)))
					// A send may fail once the server has failed the
					// connection: what it answered is still checked.
					if c.chop < 0 {
						for _, f := range c.send {
							if p.send(f, 0) != nil {
								break
							}
						}
					} else {
						_ = p.send(bytes.Join(c.send, nil), c.chop)
					}
					p.expect(t, c.want...)
				})
			}
		})
	}
}

// wsSection returns the Autobahn section (or RFC case group) of sec.
func wsSection(sec string) string {
	if strings.HasPrefix(sec, "rfc") {
		return "rfc"
	}
	s, _, _ := strings.Cut(sec, ".")
	return s
}

// wsCases returns every case, in Autobahn's order.
func wsCases() []wsCase {
	var cs []wsCase
	for _, f := range []func() []wsCase{
		framingCases, pingCases, reservedBitCases, opcodeCases, fragmentationCases,
		utf8Cases, closeCases, limitCases, rfcCases,
	} {
		cs = append(cs, f()...)
	}
	return cs
}

// Client frames, shortly: whole (FIN set) and fragment (FIN clear).
func whole(op byte, p []byte) []byte { return cframe(wsFin|op, p) }
func fragment(op byte, p []byte) []byte {
	return cframe(op, p)
}
func str(s string) []byte { return []byte(s) }
func rep(c byte, n int) []byte {
	return bytes.Repeat([]byte{c}, n)
}

// marker is a ping whose pong proves the server sent nothing in between.
var (
	markerPing = whole(wsPing, str("marker"))
	markerPong = echo(wsPong, str("marker"))
)

// framingCases: Autobahn 1.*, text and binary messages of every header
// size, at once and in chops.
func framingCases() []wsCase {
	var cs []wsCase
	for i, op := range []byte{wsText, wsBinary} {
		fill := []byte{'*', 0xfe}[i]
		kind := []string{"text", "binary"}[i]
		for j, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
			p := rep(fill, n)
			cs = append(cs, wsCase{sec: fmt.Sprintf("1.%d.%d", i+1, j+1), name: fmt.Sprintf("%s of %d bytes", kind, n),
				send: [][]byte{whole(op, p)}, want: []wsExpect{echo(op, p)}})
		}
		p := rep(fill, 65536)
		cs = append(cs, wsCase{sec: fmt.Sprintf("1.%d.8", i+1), name: kind + " of 65536 bytes in chops of 997",
			send: [][]byte{whole(op, p)}, chop: 997, want: []wsExpect{echo(op, p)}})
	}
	return cs
}

// pingCases: Autobahn 2.*: a ping is answered by a pong with its payload;
// a pong nobody asked for is ignored; a control frame over 125 bytes fails
// the connection. Pongs are what the poller takes off the socket itself.
func pingCases() []wsCase {
	bin := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	var tenPings [][]byte
	var tenPongs []wsExpect
	for i := range 10 {
		p := str("ping " + strconv.Itoa(i))
		tenPings = append(tenPings, whole(wsPing, p))
		tenPongs = append(tenPongs, echo(wsPong, p))
	}
	var manyPongs [][]byte
	for i := range 20 {
		manyPongs = append(manyPongs, whole(wsPong, str("pong "+strconv.Itoa(i))))
	}
	return []wsCase{
		{sec: "2.1", name: "ping without payload", send: [][]byte{whole(wsPing, nil)}, want: []wsExpect{echo(wsPong, nil)}},
		{sec: "2.2", name: "ping with a text payload", send: [][]byte{whole(wsPing, str("Hello, world!"))},
			want: []wsExpect{echo(wsPong, str("Hello, world!"))}},
		{sec: "2.3", name: "ping with a binary payload", send: [][]byte{whole(wsPing, bin)}, want: []wsExpect{echo(wsPong, bin)}},
		{sec: "2.4", name: "ping of 125 bytes", send: [][]byte{whole(wsPing, rep(0xfe, 125))}, want: []wsExpect{echo(wsPong, rep(0xfe, 125))}},
		{sec: "2.5", name: "ping of 126 bytes", send: [][]byte{whole(wsPing, rep(0xfe, 126))}, want: []wsExpect{closed(1002)}},
		{sec: "2.6", name: "ping of 125 bytes octet by octet", send: [][]byte{whole(wsPing, rep(0xfe, 125))}, chop: 1,
			want: []wsExpect{echo(wsPong, rep(0xfe, 125))}},
		{sec: "2.7", name: "unsolicited pong without payload", send: [][]byte{whole(wsPong, nil), markerPing}, want: []wsExpect{markerPong}},
		{sec: "2.8", name: "unsolicited pong with payload", send: [][]byte{whole(wsPong, str("unsolicited pong payload")), markerPing},
			want: []wsExpect{markerPong}},
		{sec: "2.9", name: "unsolicited pong, then ping", send: [][]byte{whole(wsPong, str("unsolicited")), whole(wsPing, str("solicited"))},
			want: []wsExpect{echo(wsPong, str("solicited"))}},
		{sec: "2.10", name: "10 pings", send: tenPings, want: tenPongs},
		{sec: "2.11", name: "10 pings octet by octet", send: tenPings, chop: 1, want: tenPongs},
		{sec: "2.p1", name: "pong of 125 bytes, then ping", send: [][]byte{whole(wsPong, rep(0xfe, 125)), markerPing}, want: []wsExpect{markerPong}},
		{sec: "2.p2", name: "pong octet by octet, then ping", send: [][]byte{whole(wsPong, str("split pong")), markerPing}, chop: 1,
			want: []wsExpect{markerPong}},
		{sec: "2.p3", name: "20 pongs back to back, then ping", send: append(manyPongs, markerPing), want: []wsExpect{markerPong}},
		{sec: "2.p4", name: "pong of 126 bytes", send: [][]byte{whole(wsPong, rep(0xfe, 126))}, want: []wsExpect{closed(1002)}},
		{sec: "2.p5", name: "pong unmasked", send: [][]byte{cframeUnmasked(wsFin|wsPong, str("x")), markerPing}, want: []wsExpect{ended()}},
		{sec: "2.p6", name: "text, then pong, then text", send: [][]byte{whole(wsText, str("a")), whole(wsPong, nil), whole(wsText, str("b"))},
			want: []wsExpect{echo(wsText, str("a")), echo(wsText, str("b"))}},
	}
}

// reservedBitCases: Autobahn 3.*: a reserved bit set without an extension
// that defines it fails the connection (RFC 6455, 5.2).
func reservedBitCases() []wsCase {
	hello := whole(wsText, str("Hello"))
	ping := whole(wsPing, str("Hello"))
	failAfterHello := []wsExpect{maybe(echo(wsText, str("Hello"))), closed(1002)}
	return []wsCase{
		{sec: "3.1", name: "text with RSV1", send: [][]byte{cframe(wsFin|wsRSV1|wsText, str("Hello"))}, want: []wsExpect{closed(1002)}},
		{sec: "3.2", name: "text, text with RSV2, ping", send: [][]byte{hello, cframe(wsFin|wsRSV2|wsText, str("Hello")), ping}, want: failAfterHello},
		{sec: "3.3", name: "text, text with RSV1|RSV2, ping, frame by frame", send: [][]byte{hello, cframe(wsFin|wsRSV1|wsRSV2|wsText, str("Hello")), ping},
			chop: -1, want: failAfterHello},
		{sec: "3.4", name: "text, text with RSV3, ping, octet by octet", send: [][]byte{hello, cframe(wsFin|wsRSV3|wsText, str("Hello")), ping},
			chop: 1, want: failAfterHello},
		{sec: "3.5", name: "binary with RSV1|RSV3", send: [][]byte{cframe(wsFin|wsRSV1|wsRSV3|wsBinary, []byte{0, 1, 2})}, want: []wsExpect{closed(1002)}},
		{sec: "3.6", name: "ping with RSV2|RSV3", send: [][]byte{cframe(wsFin|wsRSV2|wsRSV3|wsPing, str("Hello"))}, want: []wsExpect{closed(1002)}},
		{sec: "3.7", name: "close with all RSV bits", send: [][]byte{cframe(wsFin|wsRSV1|wsRSV2|wsRSV3|wsClose, closeBody(1000, ""))},
			want: []wsExpect{closed(1002)}},
		{sec: "3.p1", name: "pong with RSV1", send: [][]byte{cframe(wsFin|wsRSV1|wsPong, str("x"))}, want: []wsExpect{closed(1002)}},
	}
}

// opcodeCases: Autobahn 4.*: reserved opcodes fail the connection.
func opcodeCases() []wsCase {
	var cs []wsCase
	for i, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		sec := fmt.Sprintf("4.1.%d", i+1)
		if op >= 0xb {
			sec = fmt.Sprintf("4.2.%d", i-4)
		}
		var send [][]byte
		want := []wsExpect{closed(1002)}
		switch i % 5 {
		case 0:
			send = [][]byte{whole(op, nil)}
		case 1:
			send = [][]byte{whole(op, str("reserved opcode payload"))}
		default:
			send = [][]byte{whole(wsText, str("Hello")), whole(op, str("reserved")), markerPing}
			want = []wsExpect{maybe(echo(wsText, str("Hello"))), closed(1002)}
		}
		c := wsCase{sec: sec, name: fmt.Sprintf("opcode %d", op), send: send, want: want}
		if i%5 == 4 {
			c.name += " octet by octet"
			c.chop = 1
		}
		cs = append(cs, c)
	}
	return cs
}

// fragmentationCases: Autobahn 5.*: control frames are never fragmented
// but may come between a message's fragments; a continuation needs a
// message to continue, and a message needs its previous one finished.
func fragmentationCases() []wsCase {
	f1, f2 := str("fragment1"), str("fragment2")
	two := [][]byte{fragment(wsText, f1), whole(wsCont, f2)}
	withPing := [][]byte{fragment(wsText, f1), whole(wsPing, str("ping payload")), whole(wsCont, f2)}
	joined := echo(wsText, str("fragment1fragment2"))
	pongThenJoined := []wsExpect{echo(wsPong, str("ping payload")), joined}
	hello := [][]byte{whole(wsText, str("Hello")), markerPing}
	noStart := func(fin byte) [][]byte {
		return append([][]byte{cframe(fin|wsCont, str("non-continuation payload"))}, hello...)
	}
	fail := []wsExpect{closed(1002)}
	var five [][]byte
	for i := range 5 {
		first := byte(wsCont)
		if i == 0 {
			first = wsText
		}
		if i == 4 {
			first |= wsFin
		}
		five = append(five, cframe(first, str("fragment"+strconv.Itoa(i+1))))
		if i == 1 || i == 3 {
			five = append(five, whole(wsPing, str("pongme "+strconv.Itoa(i))))
		}
	}
	fivePongs := []wsExpect{echo(wsPong, str("pongme 1")), echo(wsPong, str("pongme 3")),
		echo(wsText, str("fragment1fragment2fragment3fragment4fragment5"))}
	seq := func(frames ...[]byte) [][]byte { return frames }
	return []wsCase{
		{sec: "5.1", name: "fragmented ping", send: seq(cframe(wsPing, str("frag1")), whole(wsCont, str("frag2"))), want: fail},
		{sec: "5.2", name: "fragmented pong", send: seq(cframe(wsPong, str("frag1")), whole(wsCont, str("frag2"))), want: fail},
		{sec: "5.3", name: "text in 2 fragments", send: two, want: []wsExpect{joined}},
		{sec: "5.4", name: "text in 2 fragments, frame by frame", send: two, chop: -1, want: []wsExpect{joined}},
		{sec: "5.5", name: "text in 2 fragments, octet by octet", send: two, chop: 1, want: []wsExpect{joined}},
		{sec: "5.6", name: "text in 2 fragments, ping between", send: withPing, want: pongThenJoined},
		{sec: "5.7", name: "text in 2 fragments, ping between, frame by frame", send: withPing, chop: -1, want: pongThenJoined},
		{sec: "5.8", name: "text in 2 fragments, ping between, octet by octet", send: withPing, chop: 1, want: pongThenJoined},
		{sec: "5.9", name: "final continuation without a message", send: noStart(wsFin), want: fail},
		{sec: "5.10", name: "final continuation without a message, frame by frame", send: noStart(wsFin), chop: -1, want: fail},
		{sec: "5.11", name: "final continuation without a message, octet by octet", send: noStart(wsFin), chop: 1, want: fail},
		{sec: "5.12", name: "continuation without a message", send: noStart(0), want: fail},
		{sec: "5.13", name: "continuation without a message, frame by frame", send: noStart(0), chop: -1, want: fail},
		{sec: "5.14", name: "continuation without a message, octet by octet", send: noStart(0), chop: 1, want: fail},
		{sec: "5.15", name: "a message, then a continuation without one",
			send: append(slicesOf(two), fragment(wsCont, str("fragment3")), whole(wsText, str("fragment4"))),
			want: []wsExpect{maybe(joined), closed(1002)}},
		{sec: "5.16", name: "continuation, text fragment, continuation (twice)",
			send: seq(fragment(wsCont, f1), fragment(wsText, f2), whole(wsCont, f1), fragment(wsCont, f1), fragment(wsText, f2), whole(wsCont, f1)),
			want: fail},
		{sec: "5.17", name: "final continuation, text fragment, final continuation (twice)",
			send: seq(whole(wsCont, f1), fragment(wsText, f2), whole(wsCont, f1), whole(wsCont, f1), fragment(wsText, f2), whole(wsCont, f1)),
			want: fail},
		{sec: "5.18", name: "text fragment, then a new text message", send: seq(fragment(wsText, f1), whole(wsText, f2)), want: fail},
		{sec: "5.19", name: "text in 5 fragments, 2 pings between", send: five, want: fivePongs},
		{sec: "5.20", name: "text in 5 fragments, 2 pings between, octet by octet", send: five, chop: 1, want: fivePongs},
		{sec: "5.p1", name: "binary fragment, then a text fragment", send: seq(fragment(wsBinary, f1), whole(wsText, f2)), want: fail},
		{sec: "5.p2", name: "binary in 3 fragments", send: seq(fragment(wsBinary, []byte{0xff}), fragment(wsCont, []byte{0}), whole(wsCont, []byte{0xfe})),
			want: []wsExpect{echo(wsBinary, []byte{0xff, 0, 0xfe})}},
	}
}

// slicesOf copies frames, so that appending to the copy leaves frames be.
// hubPaths are the two ways a Hub reads an idle connection: a bare TCP
// connection is handed to the poller (epoll on Linux), a wrapped one gets
// a reader goroutine.
var hubPaths = []struct {
	name  string
	serve func(testing.TB, *fanout.HubOptions) *server
}{
	{"poller", newServer},
	{"wrapped", newCountingServer},
}

func slicesOf(frames [][]byte) [][]byte { return append([][]byte(nil), frames...) }

// TestConformance_ServerPings: the Hub's keepalive pings are empty ping
// frames (89 00). A client that answers each with a pong (RFC 6455, 5.5.3:
// the poller takes it off the socket on the plain path, coder/websocket
// reads it on the wrapped one) stays connected over several; one that
// does not is cut (reset) at the next tick, without a close frame.
func TestConformance_ServerPings(t *testing.T) {
	t.Parallel()
	for _, path := range hubPaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			// Far above scheduling delays on a loaded machine: a pong is
			// late only when it misses the next tick.
			s := path.serve(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: 500 * time.Millisecond})
			live := dialPeer(t, s.url("topic=t"))
			liveSub := recv(t, subs, "the answering client")
			dead := dialPeer(t, s.url("topic=t"))
			deadSub := recv(t, subs, "the silent client")

			for i := range 3 {
				f, err := live.next()
				require.NoError(t, err, "ping %d", i)
				require.Equal(t, sframe(wsPing, nil), f.raw, "ping %d", i)
				require.NoError(t, live.send(whole(wsPong, f.payload), 0))
			}
			dead.expect(t, echo(wsPing, nil), ended())
			closedWithin(t, deadSub.Done(), "the silent client's end")
			assert.True(t, isOpen(liveSub.Done()), "the answering client stays")
		})
	}
}
