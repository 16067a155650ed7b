package fanout_test

import (
	"context"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/stretchr/testify/require"
)

// TestReplayStore_OneOwner: a ReplayStore serves one Hub or standalone
// Broker at a time. A second one made over it panics in its constructor
// (two in-process engines over one log would each deliver only their own
// publishes live, and each other's only when filling the gaps they leave);
// a Broker attached to the Hub shares it; once its owner is closed, the
// store may serve another.
func TestReplayStore_OneOwner(t *testing.T) {
	t.Parallel()
	ring := fanout.NewRing(nil)
	hub := fanout.NewHub(&fanout.HubOptions{Replay: ring})
	attached := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub})

	require.PanicsWithValue(t, "fanout: a ReplayStore serves one Hub or Broker, and this one already serves another (attach a Broker to the Hub with BrokerOptions.Hub instead)",
		func() { fanout.NewHub(&fanout.HubOptions{Replay: ring}) }, "a second Hub over the Ring")
	require.Panics(t, func() { fanout.NewBroker(&fanout.BrokerOptions{Replay: ring}) }, "a standalone Broker over the Hub's Ring")

	// The owner still works alone.
	require.NoError(t, hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("x"))))
	require.Equal(t, 1, ring.Len())
	require.NoError(t, attached.Close())
	require.NoError(t, hub.Close())

	next := fanout.NewBroker(&fanout.BrokerOptions{Replay: ring})
	require.NoError(t, next.Publish(context.Background(), "t", fanout.NewMessage([]byte("y"))))
	require.Equal(t, 2, ring.Len())
	require.NoError(t, next.Close())
}
