// UTF-8 checks: of a Message published as text (prepared.go) and of text
// frames from clients (hub_reader.go).

package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// notUTF8 is the payload of the reproduction: "bad", then three
// bytes that cannot start (or continue) a UTF-8 sequence.
var notUTF8 = []byte("bad\xff\xfe\xc0")

// TestHub_InvalidUTF8FromClient: a text message that is not UTF-8, in one
// frame or fragmented, closes its sender's connection with status 1007
// (invalid frame payload data, RFC 6455 section 8.1) and never reaches
// OnMessage; a valid rune split across fragments and binary messages are
// delivered; the other subscribers keep receiving.
func TestHub_InvalidUTF8FromClient(t *testing.T) {
	t.Parallel()
	type frag struct {
		typ   websocket.MessageType
		parts [][]byte // each written as one frame of the message
	}
	euro := []byte("€") // e2 82 ac
	for _, tc := range []struct {
		name  string
		send  frag
		valid bool
	}{
		{"one text frame", frag{websocket.MessageText, [][]byte{notUTF8}}, false},
		{"fragmented text", frag{websocket.MessageText, [][]byte{[]byte("fine "), []byte("then \xc3\x28")}}, false},
		{"truncated rune at the end", frag{websocket.MessageText, [][]byte{[]byte("ab"), euro[:2]}}, false},
		{"a rune split across fragments", frag{websocket.MessageText, [][]byte{append([]byte("ab"), euro[:1]...), append(euro[1:], 'c')}}, true},
		{"binary", frag{websocket.MessageBinary, [][]byte{notUTF8}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan []byte, 4)
			ended := make(chan error, 4)
			s := newServer(t, &fanout.HubOptions{
				PingInterval: -1,
				OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) {
					got <- m.Data()
				},
				OnDisconnect: func(_ *fanout.Subscriber, err error) { ended <- err },
			})
			sender := dialCoder(t, s.url("topic=t"), nil)
			senderCol := collectCoder(t, sender)
			other := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
			eventually(t, func() bool { return s.hub.NumSubscribers("t") == 2 }, waitTimeout, "subscribed")

			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			w, err := sender.Writer(ctx, tc.send.typ)
			require.NoError(t, err)
			for _, p := range tc.send.parts {
				_, err := w.Write(p) // coder/websocket writes one frame per Write
				require.NoError(t, err)
			}
			require.NoError(t, w.Close())

			var whole []byte
			for _, p := range tc.send.parts {
				whole = append(whole, p...)
			}
			if tc.valid {
				assert.Equal(t, whole, recv(t, got, "OnMessage"))
				require.NoError(t, s.hub.Publish(ctx, "t", num(1)))
				assert.Equal(t, []string{"1"}, texts(senderCol.waitN(t, 1)))
				assert.Equal(t, []string{"1"}, texts(other.waitN(t, 1)))
				return
			}
			err = senderCol.closeErr(t)
			assert.Equal(t, int(websocket.StatusInvalidFramePayloadData), closeStatus(err), "sender's close: %v", err)
			derr := recv(t, ended, "OnDisconnect")
			assert.ErrorIs(t, derr, fanout.ErrInvalidMessage, "OnDisconnect says why")
			assert.Empty(t, got, "nothing reached OnMessage")
			eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "sender released")

			require.NoError(t, s.hub.Publish(ctx, "t", num(1)))
			assert.Equal(t, []string{"1"}, texts(other.waitN(t, 1)), "the others keep receiving")
		})
	}
}

// TestHub_PublishInvalidUTF8: a text Message whose data (or ID, or event
// type) is not UTF-8 is refused with ErrInvalidMessage on every publishing
// path, with or without a store, and nothing is written: no client ever
// receives a text frame it must fail the connection for. The same bytes
// as a Binary message are delivered.
func TestHub_PublishInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, withRing := range []bool{false, true} {
		t.Run(fmt.Sprintf("ring=%v", withRing), func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			opts := &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1}
			if withRing {
				opts.Replay = fanout.NewRing(nil)
			}
			s := newServer(t, opts)
			col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
			sub := recv(t, subs, "subscriber")

			ctx := context.Background()
			bad := fanout.NewMessage(notUTF8)
			all := func(*fanout.Subscriber) bool { return true }
			for _, tc := range []struct {
				name string
				err  error
			}{
				{"publish", s.hub.Publish(ctx, "t", bad)},
				{"publish again (cached)", s.hub.Publish(ctx, "t", bad)},
				{"broadcast", s.hub.Broadcast(ctx, bad)},
				{"filtered broadcast", s.hub.BroadcastFilter(ctx, bad, all)},
				{"send", sub.Send(bad)},
				{"with an ID", s.hub.Publish(ctx, "t", bad.WithID("x"))},
				{"ID not UTF-8", s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("ok")).WithID("id\xff"))},
				{"event not UTF-8", s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("ok")).WithEvent("ev\xff"))},
			} {
				assert.ErrorIs(t, tc.err, fanout.ErrInvalidMessage, tc.name)
			}
			assert.Zero(t, sub.QueueLen())
			assert.Zero(t, s.hub.Stats().Published)

			require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewBinaryMessage(notUTF8)))
			require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("ünïcödé ✓"))))
			got := col.waitN(t, 2)
			assert.Equal(t, msg{binary: true, data: notUTF8}, got[0], "binary: any bytes")
			assert.Equal(t, "ünïcödé ✓", string(got[1].data))
			assert.Len(t, col.snapshot(), 2, "nothing invalid was written")
		})
	}
}

// TestBroker_PublishInvalidUTF8: the event stream is UTF-8 by definition:
// the Broker refuses the same messages, and delivers binary ones (base64).
func TestBroker_PublishInvalidUTF8(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	st := sseOpen(t, s.url("topic=t"), nil)
	sub := h.sub(t)

	bad := fanout.NewMessage(notUTF8)
	assert.ErrorIs(t, s.broker.Publish(sseCtx, "t", bad), fanout.ErrInvalidMessage)
	assert.ErrorIs(t, s.broker.Broadcast(sseCtx, bad), fanout.ErrInvalidMessage)
	assert.ErrorIs(t, sub.Send(bad), fanout.ErrInvalidMessage)
	assert.ErrorIs(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage(nil).WithID("\xc0")), fanout.ErrInvalidMessage)

	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewBinaryMessage(notUTF8)))
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("ok"))))
	assert.Equal(t, []string{"YmFk//7A", "ok"}, sseData(st.waitN(t, 2)))
}

// TestMessage_UTF8ErrorSays: the error names the rule, so that a caller
// who built a text Message from arbitrary bytes knows to use Binary.
func TestMessage_UTF8ErrorSays(t *testing.T) {
	t.Parallel()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1})
	err := s.hub.Publish(context.Background(), "t", fanout.NewMessage(notUTF8))
	require.True(t, errors.Is(err, fanout.ErrInvalidMessage), "%v", err)
	assert.Contains(t, err.Error(), "UTF-8")
}

// BenchmarkUTF8Valid measures what validating a text Message costs: one
// utf8.Valid over its payload, once per Message (the result is cached with
// its prepared encodings, so fan-out to N subscribers, Send to each, and
// publishing it again cost nothing more).
func BenchmarkUTF8Valid(b *testing.B) {
	for _, text := range []struct{ name, unit string }{
		{"ascii", "abcdefghijklmnopqrstuvwxyz012345"},
		{"mixed", "héllo wörld, ça va? ✓ 日本語 ok.."}, // 1- to 3-byte runes
	} {
		for _, size := range []int{64, 1 << 10, 64 << 10} {
			data := []byte(strings.Repeat(text.unit, size/len(text.unit)+1))
			for !utf8.Valid(data[:size]) { // do not cut a rune
				size--
			}
			data = data[:size]
			b.Run(fmt.Sprintf("%s/%dB", text.name, len(data)), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if !utf8.Valid(data) {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}
