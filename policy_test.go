package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestPolicy_DropCountsExactly overflows a PolicyDrop subscriber's queue
// while its writer is held: every message is either delivered or counted
// dropped, exactly, and the subscriber stays.
func TestPolicy_DropCountsExactly(t *testing.T) {
	t.Parallel()
	const queue, n = 8, 40
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: queue, Policy: fanout.PolicyDrop},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t") // message 0 is in the held write
	for i := 1; i < n; i++ {
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
	}
	assert.Equal(t, queue, st.sub.QueueLen())
	assert.Equal(t, uint64(n-1-queue), st.sub.Dropped())

	st.release()
	got := texts(st.col.waitN(t, queue+1))
	assert.Equal(t, nums(0, queue+1), got, "the messages queued before the overflow, in order")
	eventually(t, func() bool { return st.sub.Delivered() == queue+1 }, waitTimeout, "delivered counted")

	stats := s.hub.Stats()
	assert.Equal(t, uint64(n-1-queue), stats.Dropped)
	assert.Equal(t, st.sub.Dropped(), stats.Dropped)
	assert.Equal(t, uint64(n), st.sub.Delivered()+st.sub.Dropped(), "delivered + dropped == published")
	assert.Equal(t, uint64(len(got)), st.sub.Delivered())
	assert.Zero(t, stats.Closed)
	assert.Zero(t, stats.Removed)

	// Still subscribed: the next message arrives.
	assert.Equal(t, 1, s.hub.NumSubscribers("t"))
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(n)))
	assert.Equal(t, append(nums(0, queue+1), strconv.Itoa(n)), texts(st.col.waitN(t, queue+2)))
}

// TestPolicy_Remove overflows a PolicyRemove subscriber's queue: it leaves
// every topic and the broadcast set at once, what was queued is still
// written, and its connection stays open.
func TestPolicy_Remove(t *testing.T) {
	t.Parallel()
	const queue = 4
	onConnect, subs := connectHook()
	got := make(chan string, 1)
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: queue, Policy: fanout.PolicyRemove},
		OnConnect:       onConnect,
		OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) {
			got <- string(m.Data())
		},
		PingInterval: -1,
	})
	st := stallOne(t, s, subs, "topic=t") // its client keeps reading throughout
	for i := 1; i <= queue+1; i++ {
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
	}
	assert.Zero(t, s.hub.NumSubscribers("t"))
	assert.Zero(t, s.hub.Len())
	assert.Equal(t, uint64(1), s.hub.Stats().Removed)
	assert.Equal(t, uint64(1), st.sub.Dropped())
	assert.Empty(t, st.sub.Topics())
	assert.ErrorIs(t, st.sub.Send(num(99)), fanout.ErrNotSubscribed)
	assert.ErrorIs(t, st.sub.Subscribe(context.Background(), "t"), fanout.ErrNotSubscribed)
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(100))) // reaches nobody
	require.NoError(t, s.hub.Broadcast(context.Background(), num(101)))    // nor this
	assert.Equal(t, queue, st.sub.QueueLen())

	st.release()
	assert.Equal(t, nums(0, queue+1), texts(st.col.waitN(t, queue+1)), "what was queued is still written")
	eventually(t, func() bool { return st.sub.Delivered() == queue+1 }, waitTimeout, "queued messages delivered")
	assert.Zero(t, st.sub.QueueLen())

	// The connection is still open both ways: the server's reader gets a
	// client message, and a ping gets its pong.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, st.client.Write(ctx, websocket.MessageText, []byte("still here")))
	assert.Equal(t, "still here", recv(t, got, "client message"))
	require.NoError(t, st.client.Ping(ctx))
	assert.True(t, isOpen(st.sub.Done()), "removed subscriber's connection stays open")
	assert.True(t, isOpen(st.col.done), "client saw no close")
	assert.Zero(t, s.hub.Stats().Closed)

	// A removed subscriber still belongs to the hub's lifecycle: Shutdown
	// closes it with going away.
	require.NoError(t, s.hub.Shutdown(ctx))
	assert.Equal(t, int(websocket.StatusGoingAway), closeStatus(st.col.closeErr(t)))
	assert.False(t, isOpen(st.sub.Done()))
}

// TestPolicy_QueueBytes: the queue's byte bound makes a subscriber slow
// too, yet a lone message larger than the bound still goes through.
func TestPolicy_QueueBytes(t *testing.T) {
	t.Parallel()
	const limit, size = 100, 40
	onConnect, subs := connectHook()
	var rec slowRecorder
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{
			QueueBytes: limit,
			Policy:     fanout.PolicyDrop,
			OnSlow:     rec.hook,
		},
		OnConnect:    onConnect,
		PingInterval: -1,
	})
	st := stallOne(t, s, subs, "topic=t")
	msgOf := func(i int) *fanout.Message { return fanout.NewMessage(bytes.Repeat([]byte{'a' + byte(i)}, size)) }
	for i := 1; i <= 3; i++ { // 40 + 40 fit in 100 bytes; the third does not
		require.NoError(t, s.hub.Publish(context.Background(), "t", msgOf(i)))
	}
	assert.Equal(t, 2, st.sub.QueueLen())
	assert.Equal(t, 2*size, st.sub.QueueBytes())
	assert.Equal(t, uint64(1), st.sub.Dropped())
	events := rec.list()
	require.Len(t, events, 1)
	assert.Equal(t, fanout.SlowQueueFull, events[0].Reason)
	assert.Equal(t, 2, events[0].QueueLen)
	assert.Equal(t, 2*size, events[0].QueueBytes)

	st.release()
	got := st.col.waitN(t, 3)
	assert.Equal(t, "0", string(got[0].data))
	assert.Equal(t, msgOf(1).Data(), got[1].data)
	assert.Equal(t, msgOf(2).Data(), got[2].data)
	eventually(t, func() bool { return st.sub.QueueLen() == 0 && st.sub.Delivered() == 3 }, waitTimeout, "drained")

	huge := fanout.NewMessage(bytes.Repeat([]byte("h"), 5*limit))
	require.NoError(t, s.hub.Publish(context.Background(), "t", huge))
	assert.Equal(t, huge.Data(), st.col.waitN(t, 4)[3].data, "a message over QueueBytes alone is queued")
	assert.Equal(t, uint64(1), st.sub.Dropped())
}

// TestPolicy_Close overflows a PolicyClose subscriber's queue: it is
// unsubscribed at once and its client sees close status 1013 (try again
// later) after, at most, what was already in flight.
func TestPolicy_Close(t *testing.T) {
	t.Parallel()
	const queue = 4
	onConnect, subs := connectHook()
	disconnected := make(chan error, 16)
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: queue}, // PolicyClose: the default
		OnConnect:       onConnect,
		OnDisconnect:    func(_ *fanout.Subscriber, err error) { disconnected <- err },
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t")
	other := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	recv(t, subs, "other subscriber")
	// Overflow the stalled subscriber's queue alone (Send applies the
	// policy like Publish does), so the other's small queue is not at risk.
	for i := 1; i <= queue; i++ {
		require.NoError(t, st.sub.Send(num(i)))
	}
	assert.ErrorIs(t, st.sub.Send(num(queue+1)), fanout.ErrQueueFull)
	assert.Equal(t, 1, s.hub.NumSubscribers("t"), "the slow one is unsubscribed at once")
	assert.Equal(t, 1, s.hub.Len())
	assert.Equal(t, uint64(1), s.hub.Stats().Closed)
	assert.ErrorIs(t, st.sub.Send(num(99)), fanout.ErrNotSubscribed)

	st.release()
	err := st.col.closeErr(t)
	assert.Equal(t, int(websocket.StatusTryAgainLater), closeStatus(err), "close status: %v", err)
	got := texts(st.col.snapshot())
	assert.Equal(t, nums(0, len(got)), got, "an in-order prefix")
	assert.LessOrEqual(t, len(got), 1, "queued messages are discarded")
	closedWithin(t, st.sub.Done(), "subscriber released")
	assert.NoError(t, recv(t, disconnected, "OnDisconnect"), "a policy close is not a client error")

	// The other subscriber is untouched.
	require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("after"))))
	assert.Equal(t, []string{"after"}, texts(other.waitN(t, 1)))
	assert.Equal(t, uint64(1), s.hub.Stats().Closed)
}

// TestHub_OnSlow lets a hook choose the policy per subscriber, and checks
// the SlowEvent it is given.
func TestHub_OnSlow(t *testing.T) {
	t.Parallel()
	const queue, size = 3, 10
	onConnect, subs := connectHook()
	rec := slowRecorder{choose: func(ev fanout.SlowEvent) fanout.Policy {
		if ev.Subscriber.Request().URL.Query().Get("name") == "dropper" {
			return fanout.PolicyDrop
		}
		return fanout.PolicyClose
	}}
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{
			QueueSize: queue,
			Policy:    fanout.PolicyRemove, // the hook overrides it for both
			OnSlow:    rec.hook,
		},
		OnConnect:    onConnect,
		PingInterval: -1,
	})
	msgOf := func(i int) *fanout.Message {
		return fanout.NewMessage(bytes.Repeat([]byte{'a' + byte(i)}, size))
	}
	dropper := stallOne(t, s, subs, "topic=t&name=dropper")
	closer := stallOne(t, s, subs, "topic=t&name=closer")
	for i := 1; i <= queue+1; i++ { // the last one finds both queues full
		require.NoError(t, s.hub.Publish(context.Background(), "t", msgOf(i)))
	}
	require.NoError(t, s.hub.Publish(context.Background(), "t", msgOf(queue+2))) // only the dropper is left

	evs := rec.list()
	require.Len(t, evs, 3)
	var forDropper, forCloser int
	for _, ev := range evs {
		assert.Equal(t, fanout.SlowQueueFull, ev.Reason)
		assert.Equal(t, fanout.PolicyRemove, ev.Policy, "the configured policy")
		assert.Equal(t, queue, ev.QueueLen)
		assert.Equal(t, queue*size, ev.QueueBytes)
		assert.Equal(t, 1, ev.Messages)
		switch ev.Subscriber {
		case dropper.sub:
			forDropper++
		case closer.sub:
			forCloser++
		default:
			t.Errorf("event for an unknown subscriber %d", ev.Subscriber.ID())
		}
	}
	assert.Equal(t, 2, forDropper)
	assert.Equal(t, 1, forCloser)

	// The closer's drops: the message that found its queue full, and the
	// queue it held, discarded when PolicyClose ended it.
	stats := s.hub.Stats()
	assert.Equal(t, uint64(3+queue), stats.Dropped)
	assert.Equal(t, uint64(1), stats.Closed)
	assert.Zero(t, stats.Removed)
	assert.Equal(t, uint64(2), dropper.sub.Dropped())
	assert.Equal(t, uint64(1+queue), closer.sub.Dropped())
	assert.Equal(t, []*fanout.Subscriber{dropper.sub}, s.hub.Subscribers())

	dropper.release()
	closer.release()
	assert.Len(t, dropper.col.waitN(t, queue+1), queue+1)
	assert.Equal(t, int(websocket.StatusTryAgainLater), closeStatus(closer.col.closeErr(t)))
	assert.True(t, isOpen(dropper.col.done), "the dropper stays connected")
}

// TestPolicy_StalledClientDoesNotSlowOthers: a client that never reads
// fills its socket and then its queue; its policy applies to it alone,
// publishing never blocks, and a reading subscriber receives everything.
func TestPolicy_StalledClientDoesNotSlowOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy fanout.Policy
		check  func(t *testing.T, st fanout.Stats, stalled *fanout.Subscriber)
	}{
		{"drop", fanout.PolicyDrop, func(t *testing.T, st fanout.Stats, stalled *fanout.Subscriber) {
			assert.Positive(t, stalled.Dropped())
			assert.Equal(t, stalled.Dropped(), st.Dropped)
			assert.Equal(t, 2, st.Subscribers)
		}},
		{"remove", fanout.PolicyRemove, func(t *testing.T, st fanout.Stats, stalled *fanout.Subscriber) {
			assert.Equal(t, uint64(1), st.Removed)
			assert.Equal(t, 1, st.Subscribers)
		}},
		{"close", fanout.PolicyClose, func(t *testing.T, st fanout.Stats, stalled *fanout.Subscriber) {
			assert.Equal(t, uint64(1), st.Closed)
			assert.Equal(t, 1, st.Subscribers)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n, size = 64, 64 << 10
			onConnect, subs := connectHook()
			s := newServer(t, &fanout.HubOptions{
				DeliveryOptions: fanout.DeliveryOptions{QueueSize: 4, Policy: tc.policy},
				OnConnect:       onConnect,
				SendBufferSize:  16 << 10,
				PingInterval:    -1,
			})
			dialGorilla(t, s.url("topic=t"), stalledDialer()) // never reads
			stalled := recv(t, subs, "stalled subscriber")
			fast := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
			recv(t, subs, "fast subscriber")

			payload := bytes.Repeat([]byte("x"), size)
			done := make(chan error, 1)
			go func() {
				// Paced by the fast client, so its queue never overflows;
				// each Publish must return without waiting for the stalled one.
				for i := range n {
					m := fanout.NewMessage(append(strconv.AppendInt(nil, int64(i), 10), payload...))
					if err := s.hub.Publish(context.Background(), "t", m); err != nil {
						done <- err
						return
					}
					if !fast.awaitMore(i) {
						done <- fmt.Errorf("fast client ended after %d messages", fast.count())
						return
					}
				}
				done <- nil
			}()
			require.NoError(t, recv(t, done, "publisher completion"))

			got := fast.waitN(t, n)
			for i, m := range got {
				require.True(t, bytes.HasPrefix(m.data, []byte(strconv.Itoa(i))), "message %d out of order", i)
				require.Len(t, m.data, len(strconv.Itoa(i))+size)
			}
			st := s.hub.Stats()
			assert.Less(t, stalled.Delivered(), uint64(n), "the stalled client did not receive everything")
			tc.check(t, st, stalled)
			t.Logf("stalled: delivered %d, dropped %d; stats %+v", stalled.Delivered(), stalled.Dropped(), st)
		})
	}
}

// TestPolicy_WriteTimeout stalls a batch write (the client never reads and
// the socket buffers are small) past WriteTimeout: the event is
// SlowWriteTimeout, counted in Stats.Timeouts, and the policy applies.
func TestPolicy_WriteTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy fanout.Policy
	}{
		{"drop", fanout.PolicyDrop},
		{"close", fanout.PolicyClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			var rec slowRecorder
			s := newServer(t, &fanout.HubOptions{
				DeliveryOptions: fanout.DeliveryOptions{
					Policy:       tc.policy,
					WriteTimeout: 50 * time.Millisecond,
					OnSlow:       rec.hook,
				},
				OnConnect:      onConnect,
				SendBufferSize: 4096,
				PingInterval:   -1,
				Limits:         fanout.Limits{MaxMessageSize: -1}, // a 4 MiB message
			})
			dialGorilla(t, s.url("topic=t"), stalledDialer()) // never reads
			sub := recv(t, subs, "subscriber")
			big := bytes.Repeat([]byte("y"), 4<<20)

			require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage(big)))
			// The writer counts the timeout, then calls OnSlow, then counts
			// what it dropped: wait for the hook, not the counter alone.
			eventually(t, func() bool { return s.hub.Stats().Timeouts == 1 && len(rec.list()) == 1 },
				waitTimeout, "a write timeout, reported to OnSlow")
			evs := rec.list()
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Equal(t, fanout.SlowWriteTimeout, ev.Reason)
			assert.Equal(t, tc.policy, ev.Policy)
			assert.Same(t, sub, ev.Subscriber)
			// A frame cut by the timeout counts as sent (its tail is
			// committed); one not begun counts as not delivered.
			assert.Contains(t, []int{0, 1}, ev.Messages)

			if tc.policy == fanout.PolicyClose {
				closedWithin(t, sub.Done(), "slow subscriber released")
				st := s.hub.Stats()
				assert.Equal(t, uint64(1), st.Closed)
				assert.Zero(t, st.Subscribers)
				return
			}

			// PolicyDrop: the subscriber stays; the next batch times out too
			// and its message is dropped and counted.
			require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage(big)))
			eventually(t, func() bool {
				return s.hub.Stats().Timeouts == 2 && len(rec.list()) == 2 && sub.Delivered()+sub.Dropped() == 2
			}, waitTimeout, "a second write timeout, reported and counted")
			evs = rec.list()
			require.Len(t, evs, 2)
			dropped := 0
			for _, ev := range evs {
				assert.Equal(t, fanout.SlowWriteTimeout, ev.Reason)
				dropped += ev.Messages
			}
			st := s.hub.Stats()
			assert.Equal(t, uint64(dropped), sub.Dropped())
			assert.Equal(t, uint64(dropped), st.Dropped)
			assert.Equal(t, uint64(2), sub.Delivered()+sub.Dropped(), "each message delivered or dropped")
			assert.Equal(t, 1, st.Subscribers)
			assert.Zero(t, st.Closed)
		})
	}
}

// TestPolicy_CloseReleasesStalledWriter: ending a subscription without
// draining (PolicyClose on a full queue, or Subscriber.Close) must release
// it promptly even while its writer is blocked in a socket write to a
// client that stopped reading, also when no WriteTimeout bounds that write.
func TestPolicy_CloseReleasesStalledWriter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, s *server, sub *fanout.Subscriber, big *fanout.Message)
	}{
		{"policy close", func(t *testing.T, s *server, _ *fanout.Subscriber, big *fanout.Message) {
			for range 3 { // fill the queue (2), then overflow it
				require.NoError(t, s.hub.Publish(context.Background(), "t", big))
			}
			require.Equal(t, uint64(1), s.hub.Stats().Closed)
		}},
		{"subscriber close", func(t *testing.T, _ *server, sub *fanout.Subscriber, _ *fanout.Message) {
			require.NoError(t, sub.Close())
			assert.ErrorIs(t, sub.Close(), fanout.ErrNotSubscribed)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			s := newServer(t, &fanout.HubOptions{
				DeliveryOptions: fanout.DeliveryOptions{QueueSize: 2, WriteTimeout: -1},
				OnConnect:       onConnect,
				SendBufferSize:  4096,
				PingInterval:    -1,
			})
			dialGorilla(t, s.url("topic=t"), stalledDialer()) // never reads
			sub := recv(t, subs, "subscriber")
			big := fanout.NewMessage(bytes.Repeat([]byte("z"), 1<<20))

			// The writer takes the first message and blocks writing it: 1 MiB
			// cannot fit in the socket buffers of a client that does not read.
			require.NoError(t, s.hub.Publish(context.Background(), "t", big))
			eventually(t, func() bool { return sub.QueueLen() == 0 }, waitTimeout, "writer took the message")
			assert.Zero(t, sub.Delivered(), "the write cannot have completed")

			tc.end(t, s, sub, big)
			assert.Zero(t, s.hub.Len())
			// The write cannot finish (the client does not read) and
			// nothing else would interrupt it; ending the subscription must.
			closedWithin(t, sub.Done(), "ended subscriber released while its write was blocked")
		})
	}
}
