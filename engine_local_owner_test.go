package fanout_test

import (
	"context"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/stretchr/testify/require"
)

// TestReplayStore_HandedOver: a ReplayStore serves one Hub or standalone
// Broker at a time. Given to another, it is handed over: from then on the
// Hub that had it fails Publish and Broadcast with ErrClosed and stores
// nothing (two in-process engines publishing over one log would each
// deliver the other's messages late, or never), while the new one
// publishes; closing the old Hub does not take the store back from the
// new one; a Broker attached to the Hub shares its store.
func TestReplayStore_HandedOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := func() *fanout.Message { return fanout.NewMessage([]byte("x")) }
	ring := fanout.NewRing(nil)
	first := fanout.NewHub(&fanout.HubOptions{Replay: ring})
	attached := fanout.NewBroker(&fanout.BrokerOptions{Hub: first})
	require.NoError(t, attached.Publish(ctx, "t", msg()))
	require.Equal(t, 1, ring.Len())

	second := fanout.NewHub(&fanout.HubOptions{Replay: ring})
	require.ErrorIs(t, first.Publish(ctx, "t", msg()), fanout.ErrClosed, "the Hub whose store was handed over")
	require.ErrorIs(t, first.Broadcast(ctx, msg()), fanout.ErrClosed)
	require.ErrorIs(t, attached.Publish(ctx, "t", msg()), fanout.ErrClosed, "its attached Broker")
	require.Equal(t, 1, ring.Len(), "nothing stored by the old Hub")
	require.NoError(t, second.Publish(ctx, "t", msg()))
	require.Equal(t, 2, ring.Len())

	require.NoError(t, attached.Close())
	require.NoError(t, first.Close())
	require.NoError(t, second.Publish(ctx, "t", msg()), "the old Hub's Close left the store to the new one")

	third := fanout.NewBroker(&fanout.BrokerOptions{Replay: ring})
	require.ErrorIs(t, second.Publish(ctx, "t", msg()), fanout.ErrClosed, "handed over to a standalone Broker")
	require.NoError(t, third.Publish(ctx, "t", msg()))
	require.Equal(t, 4, ring.Len())
	require.NoError(t, second.Close())
	require.NoError(t, third.Close())
}
