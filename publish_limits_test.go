// MaxMessageSize (options.go, enforced in publish.go) on a Hub, a Broker and
// the clients.

package fanout_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// TestMaxMessageSize: a message whose data is over Limits.MaxMessageSize
// is refused by Publish, Broadcast and Send with an error wrapping
// ErrTooLarge, before anything is stored (the Ring's head does not move);
// a message of exactly the limit passes; a negative limit bounds nothing;
// and the zero value bounds messages to 1 MiB.
func TestMaxMessageSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		limit int // Limits.MaxMessageSize
		max   int // the largest message that passes (-1: no bound)
	}{
		{"default", 0, 1 << 20},
		{"set", 1000, 1000},
		{"unbounded", -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ring := fanout.NewRing(nil)
			connected, subs := connectHook()
			s := newServer(t, &fanout.HubOptions{Replay: ring, OnConnect: connected,
				Limits: fanout.Limits{MaxMessageSize: tc.limit}})
			c := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
			sub := recv(t, subs, "the subscriber")
			head := func() fanout.Position {
				p, err := ring.Head(ctx)
				require.NoError(t, err)
				return p
			}
			size := tc.max
			if size < 0 {
				size = 5 << 18 // 1.25 MiB, over the default: passes (three fit in QueueBytes)
			}
			at := bytes.Repeat([]byte("a"), size)
			over := bytes.Repeat([]byte("b"), size+1)

			before := head()
			errs := []error{
				s.hub.Publish(ctx, "t", fanout.NewMessage(over)),
				s.hub.Broadcast(ctx, fanout.NewBinaryMessage(over)),
				sub.Send(fanout.NewMessage(over)),
			}
			if tc.max < 0 {
				for _, err := range errs {
					require.NoError(t, err)
				}
				require.Equal(t, before.Offset+2, head().Offset)
				c.waitN(t, 3)
				return
			}
			for i, err := range errs {
				require.ErrorIs(t, err, fanout.ErrTooLarge, "call %d", i)
			}
			require.Equal(t, before, head(), "a refused message was stored")

			require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage(at)))
			require.NoError(t, sub.Send(fanout.NewMessage(at)))
			require.Equal(t, before.Offset+1, head().Offset)
			got := c.waitN(t, 2)
			for _, m := range got {
				require.Len(t, m.data, size)
			}
		})
	}
}

// TestMaxMessageSize_Broker: a standalone Broker refuses the same way.
func TestMaxMessageSize_Broker(t *testing.T) {
	t.Parallel()
	ring := fanout.NewRing(nil)
	b := fanout.NewBroker(&fanout.BrokerOptions{Replay: ring, Limits: fanout.Limits{MaxMessageSize: 10}})
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	err := b.Publish(context.Background(), "t", fanout.NewMessage([]byte("12345678901")))
	require.True(t, errors.Is(err, fanout.ErrTooLarge), "Publish of 11 bytes over a limit of 10: %v", err)
	require.Equal(t, 0, ring.Len())
	require.NoError(t, b.Publish(context.Background(), "t", fanout.NewMessage([]byte("1234567890"))))
	require.Equal(t, 1, ring.Len())
}

// TestMaxMessageSize_Clients: the Go client, with its defaults, receives
// messages of exactly DefaultMaxMessageSize in every framing (resume and
// packed frames, which carry a batch each, plain frames, SSE, where a
// binary message grows by a third in base64), published back to back so
// that they would share a batch if the batch bounds let them.
func TestMaxMessageSize_Clients(t *testing.T) {
	t.Parallel()
	ring := fanout.NewRing(nil)
	hub := fanout.NewHub(&fanout.HubOptions{Replay: ring, Packing: true})
	srv := serveBoth(t, hub, fanout.NewBroker(&fanout.BrokerOptions{Hub: hub}))
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?topic=t"

	clients := map[string]*client.Client{}
	for name, u := range map[string]string{"resume": ws, "packed": ws, "plain": ws, "sse": srv.URL + "/sse?topic=t"} {
		o := &client.Options{}
		switch name {
		case "packed":
			o.Mode = client.ModePacked
		case "plain":
			o.Mode = client.ModePlain
		}
		c, err := client.New(u, o)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		clients[name] = c
	}
	eventually(t, func() bool { return hub.Len() == len(clients) }, waitTimeout, "%d clients connected", len(clients))
	ctx := context.Background()
	max := fanout.DefaultMaxMessageSize
	for i := range 3 {
		require.NoError(t, hub.Publish(ctx, "t", fanout.NewMessage(bytes.Repeat([]byte{'a' + byte(i)}, max))))
	}
	require.NoError(t, hub.Publish(ctx, "t", fanout.NewBinaryMessage(bytes.Repeat([]byte{0xff}, max))))

	for name, c := range clients {
		rctx, cancel := context.WithTimeout(ctx, waitTimeout)
		for i := range 4 {
			m, err := c.Next(rctx)
			require.NoError(t, err, "%s: message %d", name, i)
			require.False(t, m.Resync, "%s: message %d is a resync", name, i)
			want := max
			if i == 3 && name == "sse" {
				want = base64.StdEncoding.EncodedLen(max)
			}
			require.Len(t, m.Data, want, "%s: message %d", name, i)
		}
		cancel()
	}
}
