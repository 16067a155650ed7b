package fanout_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// coalesceFixture is one coder client on a counting server, with the
// server side of its connection and its Subscriber.
type coalesceFixture struct {
	s   *server
	sub *fanout.Subscriber
	cc  *countingConn
	col *collector
}

func newCoalesceFixture(t *testing.T, opts fanout.HubOptions) *coalesceFixture {
	t.Helper()
	onConnect, subs := connectHook()
	opts.OnConnect = onConnect
	opts.PingInterval = -1 // pings are socket writes too: keep the count exact
	s := newCountingServer(t, &opts)
	col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")
	return &coalesceFixture{s: s, sub: sub, cc: cc, col: col}
}

// holdFirst publishes message 0 with the writer held inside its socket
// write, then publishes messages 1..n-1, which queue up behind it.
func (f *coalesceFixture) holdFirst(t *testing.T, n int, msgOf func(int) *fanout.Message) (release func()) {
	t.Helper()
	ms := make([]*fanout.Message, n)
	for i := range ms {
		ms[i] = msgOf(i)
	}
	return queueBehindHeldWrite(t, f.s, f.cc, f.sub, ms...)
}

// TestHub_Coalesces holds the writer inside a socket write while messages
// queue up: when it is released, all of them leave in exactly one more
// socket write, and arrive as separate messages, in order.
func TestHub_Coalesces(t *testing.T) {
	t.Parallel()
	const n = 50
	f := newCoalesceFixture(t, fanout.HubOptions{})
	writes0, bytes0 := f.cc.writes.Load(), f.cc.bytes.Load() // the handshake
	release := f.holdFirst(t, n+1, num)
	assert.Equal(t, writes0+1, f.cc.writes.Load(), "message 0 alone in the held write")

	release()
	assert.Equal(t, nums(0, n+1), texts(f.col.waitN(t, n+1)))
	eventually(t, func() bool { return f.s.hub.Stats().Delivered == n+1 }, waitTimeout, "stats updated")
	assert.Equal(t, writes0+2, f.cc.writes.Load(), "the %d queued messages left in one write", n)

	st := f.s.hub.Stats()
	assert.Equal(t, uint64(n+1), st.Published)
	assert.Equal(t, uint64(2), st.Batches)
	assert.Equal(t, uint64(2), st.Writes)
	assert.Equal(t, uint64(f.cc.bytes.Load()-bytes0), st.Bytes, "Stats.Bytes is what reached the socket")
	assert.Equal(t, uint64(n+1), f.sub.Delivered())
	t.Logf("coalescing: Delivered=%d Writes=%d (%.1f messages per write)",
		st.Delivered, st.Writes, float64(st.Delivered)/float64(st.Writes))
}

// TestHub_LoneMessageGoesOutAtOnce: with an idle writer, each message is
// written at once, in its own write, without waiting for company.
func TestHub_LoneMessageGoesOutAtOnce(t *testing.T) {
	t.Parallel()
	f := newCoalesceFixture(t, fanout.HubOptions{})
	writes0 := f.cc.writes.Load()
	for i := range 5 {
		require.NoError(t, f.s.hub.Publish(context.Background(), "t", num(i)))
		// Nothing else is published until it has arrived.
		assert.Equal(t, nums(0, i+1), texts(f.col.waitN(t, i+1)))
		eventually(t, func() bool { return f.s.hub.Stats().Batches == uint64(i+1) }, waitTimeout, "batch counted")
		assert.Equal(t, writes0+int64(i+1), f.cc.writes.Load(), "one write per lone message")
	}
	st := f.s.hub.Stats()
	assert.Equal(t, uint64(5), st.Writes)
	assert.Equal(t, uint64(5), st.Delivered)
	t.Logf("lone messages: Delivered=%d Writes=%d", st.Delivered, st.Writes)
}

// TestHub_BatchBounds checks that MaxBatch and MaxBatchBytes split what
// queued up into the expected number of writes, and that MaxBatch 1
// disables coalescing.
func TestHub_BatchBounds(t *testing.T) {
	t.Parallel()
	const queued, size = 10, 100
	for _, tc := range []struct {
		name   string
		opts   fanout.DeliveryOptions
		writes int64 // for the queued messages
	}{
		{"default", fanout.DeliveryOptions{}, 1},
		{"max batch 1", fanout.DeliveryOptions{MaxBatch: 1}, queued},
		{"max batch 4", fanout.DeliveryOptions{MaxBatch: 4}, 3},
		{"max batch bytes 250", fanout.DeliveryOptions{MaxBatchBytes: 250}, 5},
		{"max batch bytes below one message", fanout.DeliveryOptions{MaxBatchBytes: 10}, queued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newCoalesceFixture(t, fanout.HubOptions{DeliveryOptions: tc.opts})
			msgOf := func(i int) *fanout.Message {
				return fanout.NewMessage(bytes.Repeat([]byte{'a' + byte(i)}, size))
			}
			writes0 := f.cc.writes.Load()
			release := f.holdFirst(t, queued+1, msgOf)
			release()
			got := f.col.waitN(t, queued+1)
			for i, m := range got {
				require.Equal(t, msgOf(i).Data(), m.data, "message %d", i)
			}
			eventually(t, func() bool { return f.s.hub.Stats().Delivered == queued+1 }, waitTimeout, "stats updated")
			assert.Equal(t, writes0+1+tc.writes, f.cc.writes.Load())
			st := f.s.hub.Stats()
			assert.Equal(t, uint64(1+tc.writes), st.Writes)
			assert.Equal(t, uint64(1+tc.writes), st.Batches)
		})
	}
}

// TestHub_CoalescesPerSubscriber: a writer held for one subscriber does not
// hold another's, and each coalesces what queued for it.
func TestHub_CoalescesPerSubscriber(t *testing.T) {
	t.Parallel()
	const n = 30
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	held := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
	heldConn := s.nextConn(t)
	recv(t, subs, "held subscriber")
	free := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	freeConn := s.nextConn(t)
	recv(t, subs, "free subscriber")

	entered, release := heldConn.hold()
	t.Cleanup(release)
	heldWrites, freeWrites := heldConn.writes.Load(), freeConn.writes.Load()
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(0)))
	closedWithin(t, entered, "held writer inside its write")
	for i := 1; i < n; i++ {
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
	}
	assert.Equal(t, nums(0, n), texts(free.waitN(t, n)), "the free subscriber is not held up")
	assert.Zero(t, held.count())

	release()
	assert.Equal(t, nums(0, n), texts(held.waitN(t, n)))
	eventually(t, func() bool { return s.hub.Stats().Delivered == 2*n }, waitTimeout, "stats updated")
	assert.Equal(t, heldWrites+2, heldConn.writes.Load())
	st := s.hub.Stats()
	assert.Equal(t, st.Writes, uint64(2+freeConn.writes.Load()-freeWrites), "Stats.Writes counts both connections' writes")
	assert.LessOrEqual(t, freeConn.writes.Load()-freeWrites, int64(n))
	t.Logf("two subscribers: Delivered=%d Writes=%d", st.Delivered, st.Writes)
}

// TestHub_FlushDelayDoesNotDelayEnd: a writer waiting out FlushDelay for
// more messages must still notice that its subscription ended: the client
// is told why at once instead of after the delay (or never, when Hub.Close
// gives up waiting and cuts the connection).
func TestHub_FlushDelayDoesNotDelayEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		end    func(t *testing.T, s *server, sub *fanout.Subscriber)
		status websocket.StatusCode
	}{
		{"subscriber close", func(t *testing.T, _ *server, sub *fanout.Subscriber) {
			require.NoError(t, sub.Close())
		}, websocket.StatusNormalClosure},
		{"hub close", func(t *testing.T, s *server, _ *fanout.Subscriber) {
			require.NoError(t, s.hub.Close())
		}, websocket.StatusGoingAway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			onConnect, subs := connectHook()
			s := newServer(t, &fanout.HubOptions{
				// Far longer than the test: the message cannot go out first.
				DeliveryOptions: fanout.DeliveryOptions{FlushDelay: time.Hour},
				OnConnect:       onConnect,
				PingInterval:    -1,
			})
			col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
			sub := recv(t, subs, "subscriber")
			require.NoError(t, s.hub.Publish(context.Background(), "t", num(0)))
			// Queued; its writer is waiting out the delay or about to (the
			// end must be prompt either way).
			require.Equal(t, 1, sub.QueueLen())

			tc.end(t, s, sub)
			err := col.closeErr(t)
			assert.Equal(t, int(tc.status), closeStatus(err), "close: %v", err)
			assert.Empty(t, col.snapshot(), "the queued message is discarded")
			closedWithin(t, sub.Done(), "subscriber released")
		})
	}
}
