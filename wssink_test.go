package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// wireClient dials url offering subprotocols with one of the two client
// libraries, and returns a collector of what it reads and the negotiated
// subprotocol.
type wireClient struct {
	name string
	dial func(t *testing.T, url string, subprotocols ...string) (*collector, string)
}

var wireClients = []wireClient{
	{"coder", func(t *testing.T, url string, subprotocols ...string) (*collector, string) {
		c := dialCoder(t, url, &websocket.DialOptions{Subprotocols: subprotocols})
		return collectCoder(t, c), c.Subprotocol()
	}},
	{"gorilla", func(t *testing.T, url string, subprotocols ...string) (*collector, string) {
		c := dialGorilla(t, url, &gws.Dialer{Subprotocols: subprotocols, HandshakeTimeout: waitTimeout})
		return collectGorilla(t, c), c.Subprotocol()
	}},
}

// wireMessages returns text and binary messages of sizes that exercise
// every frame header length (7-bit, 16-bit and 64-bit payload lengths),
// binary ones with bytes that are not valid UTF-8.
func wireMessages() []*fanout.Message {
	rng := rand.New(rand.NewPCG(1, 2))
	var ms []*fanout.Message
	for i, n := range []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 70000} {
		text := bytes.Repeat([]byte{'a' + byte(i)}, n)
		bin := make([]byte, n)
		for j := range bin {
			bin[j] = byte(rng.UintN(256))
		}
		if n > 0 {
			bin[0] = 0xff // never valid UTF-8
		}
		ms = append(ms, fanout.NewMessage(text), fanout.NewBinaryMessage(bin))
	}
	return ms
}

// asMsgs returns ms as a client should receive them.
func asMsgs(ms []*fanout.Message) []msg {
	out := make([]msg, len(ms))
	for i, m := range ms {
		out[i] = msg{binary: m.Type() == fanout.Binary, data: m.Data()}
	}
	return out
}

// assertSameMsgs compares received messages without dumping megabytes.
func assertSameMsgs(t *testing.T, want, got []msg) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].binary, got[i].binary, "message %d type", i)
		assert.True(t, bytes.Equal(want[i].data, got[i].data), "message %d payload (%d bytes, got %d)",
			i, len(want[i].data), len(got[i].data))
	}
}

// TestWire_CoalescedBatchIsOrdinaryFrames: a batch written in one socket
// write (proven by counting writes) is read by both client libraries as
// separate, intact text and binary messages, in order.
func TestWire_CoalescedBatchIsOrdinaryFrames(t *testing.T) {
	t.Parallel()
	for _, wc := range wireClients {
		t.Run(wc.name, func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			s := newCountingServer(t, &fanout.HubOptions{
				DeliveryOptions: fanout.DeliveryOptions{MaxBatchBytes: 1 << 20},
				OnConnect:       onConnect,
				PingInterval:    -1,
			})
			col, proto := wc.dial(t, s.url("topic=t"))
			assert.Empty(t, proto)
			cc := s.nextConn(t)
			sub := recv(t, subs, "subscriber")
			ms := append([]*fanout.Message{fanout.NewMessage([]byte("first"))}, wireMessages()...)

			writes0 := cc.writes.Load()
			release := queueBehindHeldWrite(t, s, cc, sub, ms...)
			release()

			assertSameMsgs(t, asMsgs(ms), col.waitN(t, len(ms)))
			eventually(t, func() bool { return sub.Delivered() == uint64(len(ms)) }, waitTimeout, "stats updated")
			assert.Equal(t, writes0+2, cc.writes.Load(), "%d messages in one write", len(ms)-1)
			st := s.hub.Stats()
			t.Logf("%s: Delivered=%d Writes=%d", wc.name, st.Delivered, st.Writes)
		})
	}
}

// TestWire_Packed: a client that offers PackedSubprotocol to a Packing hub
// gets each batch as one binary frame, which Unpack splits back into the
// published messages; a client on the same hub that did not offer it gets
// the original messages, never a packed frame.
func TestWire_Packed(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{MaxBatchBytes: 1 << 20},
		OnConnect:       onConnect,
		Packing:         true,
		PingInterval:    -1,
	})
	type client struct {
		name   string
		packed bool
		col    *collector
		cc     *countingConn
		sub    *fanout.Subscriber

		entered <-chan struct{}
		release func()
		writes0 int64
	}
	var clients []*client
	for _, wc := range wireClients {
		for _, packed := range []bool{true, false} {
			var offer []string
			if packed {
				offer = []string{"other.v1", fanout.PackedSubprotocol}
			}
			col, proto := wc.dial(t, s.url("topic=t"), offer...)
			c := &client{name: fmt.Sprintf("%s packed=%v", wc.name, packed), packed: packed, col: col}
			c.cc = s.nextConn(t)
			c.sub = recv(t, subs, "subscriber")
			if packed {
				assert.Equal(t, fanout.PackedSubprotocol, proto, c.name)
				assert.Equal(t, fanout.PackedSubprotocol, c.sub.Subprotocol(), c.name)
			} else {
				assert.Empty(t, proto, c.name)
				assert.Empty(t, c.sub.Subprotocol(), c.name)
			}
			clients = append(clients, c)
		}
	}

	ms := append([]*fanout.Message{fanout.NewBinaryMessage([]byte{0xfe, 0})}, wireMessages()...)
	for _, c := range clients {
		c.entered, c.release = c.cc.hold()
		t.Cleanup(c.release)
		c.writes0 = c.cc.writes.Load()
	}
	require.NoError(t, s.hub.Publish(context.Background(), "t", ms[0]))
	for _, c := range clients {
		closedWithin(t, c.entered, c.name+" writer inside its write")
	}
	for _, m := range ms[1:] {
		require.NoError(t, s.hub.Publish(context.Background(), "t", m))
	}
	for _, c := range clients {
		require.Equal(t, len(ms)-1, c.sub.QueueLen(), c.name)
		c.release()
	}

	for _, c := range clients {
		if !c.packed {
			assertSameMsgs(t, asMsgs(ms), c.col.waitN(t, len(ms)))
		} else {
			frames := c.col.waitN(t, 2)
			require.Len(t, frames, 2, "%s: one frame per batch", c.name)
			var got []msg
			for _, f := range frames {
				require.True(t, f.binary, "%s: packed frames are binary", c.name)
				require.NoError(t, fanout.Unpack(f.data, func(typ fanout.MessageType, data []byte) error {
					got = append(got, msg{binary: typ == fanout.Binary, data: bytes.Clone(data)})
					return nil
				}))
			}
			assertSameMsgs(t, asMsgs(ms), got)
			var first []msg
			require.NoError(t, fanout.Unpack(frames[0].data, func(typ fanout.MessageType, data []byte) error {
				first = append(first, msg{binary: typ == fanout.Binary, data: data})
				return nil
			}))
			assert.Len(t, first, 1, "%s: the held batch held message 0 alone", c.name)
		}
		eventually(t, func() bool { return c.sub.Delivered() == uint64(len(ms)) }, waitTimeout, "%s delivered", c.name)
		assert.Equal(t, c.writes0+2, c.cc.writes.Load(), "%s: two batches, two writes", c.name)
	}
	st := s.hub.Stats()
	assert.Equal(t, uint64(len(clients)*len(ms)), st.Delivered)
	assert.Equal(t, uint64(2*len(clients)), st.Writes)
	t.Logf("packed and plain: Delivered=%d Writes=%d", st.Delivered, st.Writes)
}

// TestWire_PackingNegotiation: packing is only ever negotiated when the
// hub enables it and the client offers it.
func TestWire_PackingNegotiation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   fanout.HubOptions
		offer  []string
		want   string
		packed bool
	}{
		{"packing off, client offers it", fanout.HubOptions{}, []string{fanout.PackedSubprotocol}, "", false},
		{"packing on, client offers it", fanout.HubOptions{Packing: true}, []string{fanout.PackedSubprotocol}, fanout.PackedSubprotocol, true},
		{"packing on, client offers another", fanout.HubOptions{Packing: true}, []string{"chat"}, "", false},
		{"packing on, app protocol preferred", fanout.HubOptions{Packing: true,
			AcceptOptions: &websocket.AcceptOptions{Subprotocols: []string{"chat"}}},
			[]string{fanout.PackedSubprotocol, "chat"}, "chat", false},
	} {
		for _, wc := range wireClients {
			t.Run(tc.name+"/"+wc.name, func(t *testing.T) {
				t.Parallel()
				opts := tc.opts
				opts.PingInterval = -1
				s := newServer(t, &opts)
				col, proto := wc.dial(t, s.url("topic=t"), tc.offer...)
				assert.Equal(t, tc.want, proto)
				eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "subscribed")

				ms := []*fanout.Message{fanout.NewMessage([]byte("text")), fanout.NewBinaryMessage([]byte{1, 2, 3})}
				for _, m := range ms {
					require.NoError(t, s.hub.Publish(context.Background(), "t", m))
				}
				if !tc.packed {
					assertSameMsgs(t, asMsgs(ms), col.waitN(t, len(ms)))
					return
				}
				var got []msg
				for i := 1; len(got) < len(ms); i++ {
					f := col.waitN(t, i)[i-1]
					require.True(t, f.binary)
					require.NoError(t, fanout.Unpack(f.data, func(typ fanout.MessageType, data []byte) error {
						got = append(got, msg{binary: typ == fanout.Binary, data: data})
						return nil
					}))
				}
				assertSameMsgs(t, asMsgs(ms), got)
			})
		}
	}
}
