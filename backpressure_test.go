package fanout_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// PolicyBlock: a publisher to a stalled subscriber's topic waits for room
// (it has not returned when the subscriber starts reading again, and
// returns once it does), publishes to other topics keep flowing meanwhile,
// and the stalled subscriber gets every message, in order.
func TestPolicyBlock_WaitsForRoom(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 4, Policy: fanout.PolicyBlock},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t") // its writer holds message 0 in a write
	other := collectCoder(t, dialCoder(t, s.url("topic=u"), nil))
	recv(t, subs, "the other subscriber")
	ctx := context.Background()
	for i := 1; i <= 4; i++ { // fills the queue
		require.NoError(t, s.hub.Publish(ctx, "t", num(i)))
	}
	published := make(chan error, 1)
	go func() { published <- s.hub.Publish(ctx, "t", num(5)) }()

	require.NoError(t, s.hub.Publish(ctx, "u", fanout.NewMessage([]byte("other topic"))))
	assert.Equal(t, []string{"other topic"}, texts(other.waitN(t, 1)), "another topic flows")
	select {
	case err := <-published:
		t.Fatalf("Publish returned (%v) while the subscriber's queue was full", err)
	default:
	}
	st.release()
	require.NoError(t, recv(t, published, "the blocked Publish"))
	assert.Equal(t, nums(0, 6), texts(st.col.waitN(t, 6)), "every message, in order")
	stats := s.hub.Stats()
	assert.Zero(t, stats.Dropped)
	assert.Zero(t, stats.Closed)
}

// A blocked Publish returns its context's error when the context ends, and
// then the message reaches no one: not the stalled subscriber, not another
// one of the topic. The stalled subscriber stays.
func TestPolicyBlock_ContextEnds(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 2, Policy: fanout.PolicyBlock},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t")
	ok := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	recv(t, subs, "the reading subscriber")
	bg := context.Background()
	require.NoError(t, s.hub.Publish(bg, "t", num(1)))
	require.NoError(t, s.hub.Publish(bg, "t", num(2)))

	ctx, cancel := context.WithCancel(bg)
	published := make(chan error, 1)
	go func() { published <- s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("never"))) }()
	cancel()
	err := recv(t, published, "the canceled Publish")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, nums(1, 3), texts(ok.waitN(t, 2)))

	st.release()
	require.NoError(t, s.hub.Publish(bg, "t", num(3)))
	assert.Equal(t, nums(0, 4), texts(st.col.waitN(t, 4)), "the stalled one stayed, and missed nothing published")
	assert.Equal(t, nums(1, 4), texts(ok.waitN(t, 3)), "nobody got the message of the canceled Publish")
	assert.Zero(t, s.hub.Stats().Closed)
}

// Close ends a publisher's wait with ErrClosed; what cannot wait (Send)
// is bounded at twice QueueSize, where the subscriber is closed (1013).
func TestPolicyBlock_Bounds(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 2, Policy: fanout.PolicyBlock},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t")
	for i := 1; i <= 4; i++ {
		require.NoError(t, st.sub.Send(num(i)), "Send %d: under twice QueueSize", i)
	}
	assert.ErrorIs(t, st.sub.Send(num(5)), fanout.ErrQueueFull)
	assert.EqualValues(t, 1, s.hub.Stats().Closed)

	st2 := stallOne(t, s, subs, "topic=u")
	for i := 1; i <= 2; i++ {
		require.NoError(t, s.hub.Publish(context.Background(), "u", num(i)))
	}
	published := make(chan error, 1)
	go func() { published <- s.hub.Publish(context.Background(), "u", num(3)) }()
	go func() { _ = s.hub.Close() }()
	err := recv(t, published, "the waiting Publish")
	assert.True(t, errors.Is(err, fanout.ErrClosed), "%v", err)
	st2.release()
}
