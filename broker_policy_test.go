package fanout_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// The slow-client policies on SSE streams: a client that stops reading is
// closed, has messages dropped, or is removed; the others go on.

func TestBroker_PolicyClose(t *testing.T) {
	t.Parallel()
	opts := fanout.BrokerOptions{Heartbeat: -1,
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 8, WriteTimeout: -1}}
	h := newSSEHooks(&opts)
	s := newSSEServer(t, &opts)
	good := sseOpen(t, s.url("topic=t"), nil)
	goodSub := h.sub(t)
	sseStall(t, s, "topic=t")
	slow := h.sub(t)

	// Publish in step with the good client, so only the stalled one falls
	// behind: first its kernel buffers fill, then its queue.
	pad := strings.Repeat("x", 32<<10)
	var want []string
	for i := 0; s.broker.Stats().Closed == 0; i++ {
		require.Less(t, i, 5000, "the stalled client was never closed")
		want = append(want, strconv.Itoa(i)+pad)
		require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte(want[i]))))
		good.waitN(t, i+1)
	}
	closedWithin(t, slow.Done(), "the slow response's end")
	assert.True(t, isOpen(goodSub.Done()))
	assert.Positive(t, slow.Dropped())
	assert.EqualValues(t, 1, s.broker.Stats().Closed)
	assert.Equal(t, 1, s.broker.Len())
	assert.Equal(t, 1, h.disconnects(slow))

	want = append(want, "after")
	require.NoError(t, s.broker.Publish(sseCtx, "t", fanout.NewMessage([]byte("after"))))
	assert.Equal(t, want, sseData(good.waitN(t, len(want))), "the good client missed nothing")
}

// sseHeldSubscriber holds the writer of a counting server's only client
// inside the flush of event 0, then publishes 1..n-1 behind it.
func sseHeldSubscriber(t *testing.T, opts *fanout.BrokerOptions, n int) (*sseServer, *sseStream, *fanout.Subscriber, func()) {
	t.Helper()
	h := newSSEHooks(opts)
	s := newSSECountingServer(t, opts)
	st := sseOpen(t, s.url("topic=t"), nil)
	cc := s.nextConn(t)
	sub := h.sub(t)
	entered, release := cc.hold()
	t.Cleanup(release)
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(0)))
	closedWithin(t, entered, "writer inside its flush")
	for i := 1; i < n; i++ {
		require.NoError(t, s.broker.Publish(sseCtx, "t", num(i)))
	}
	return s, st, sub, release
}

func TestBroker_PolicyDrop(t *testing.T) {
	t.Parallel()
	s, st, sub, release := sseHeldSubscriber(t, &fanout.BrokerOptions{Heartbeat: -1,
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 4, Policy: fanout.PolicyDrop}}, 8)
	assert.Equal(t, 4, sub.QueueLen())
	assert.EqualValues(t, 3, sub.Dropped())
	assert.EqualValues(t, 3, s.broker.Stats().Dropped)
	release()
	assert.Equal(t, nums(0, 5), sseData(st.waitN(t, 5)))
	require.NoError(t, s.broker.Publish(sseCtx, "t", num(8)))
	assert.Equal(t, append(nums(0, 5), "8"), sseData(st.waitN(t, 6)), "still subscribed, with a gap")
	assert.Zero(t, s.broker.Stats().Closed)
	assert.True(t, isOpen(sub.Done()))
}

func TestBroker_PolicyRemove(t *testing.T) {
	t.Parallel()
	s, st, sub, release := sseHeldSubscriber(t, &fanout.BrokerOptions{Heartbeat: -1,
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 4, Policy: fanout.PolicyRemove}}, 6)
	assert.EqualValues(t, 1, s.broker.Stats().Removed)
	assert.Zero(t, s.broker.NumSubscribers("t"))
	assert.Zero(t, s.broker.Len())
	assert.ErrorIs(t, sub.Subscribe(context.Background(), "t"), fanout.ErrNotSubscribed)
	release()
	assert.Equal(t, nums(0, 5), sseData(st.waitN(t, 5)), "what was queued is still written")
	eventually(t, func() bool { return sub.Delivered() == 5 }, waitTimeout, "5 delivered")

	require.NoError(t, s.broker.Publish(sseCtx, "t", num(6)))
	require.NoError(t, s.broker.Broadcast(sseCtx, num(7)))
	assert.Zero(t, sub.QueueLen(), "nothing more is queued")
	assert.EqualValues(t, 5, sub.Delivered(), "nothing more is written")
	assert.True(t, isOpen(sub.Done()), "the response stays open")
	assert.True(t, isOpen(st.done))

	require.NoError(t, sub.Close())
	evs, err := st.ended(t)
	require.NoError(t, err)
	assert.Equal(t, nums(0, 5), sseData(evs))
}
