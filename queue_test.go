package fanout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// sizeReader is a gorilla client that reads as fast as it can, keeping
// only each message's size (and the payload of small ones): clients of
// multi-megabyte messages cost the test little memory.
type sizeReader struct {
	mu    sync.Mutex
	sizes []int
	small []string // payloads of at most 64 bytes
	err   error
	done  chan struct{}
}

func readSizes(t testing.TB, c *gws.Conn) *sizeReader {
	r := &sizeReader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, rd, err := c.NextReader()
			var buf bytes.Buffer
			var n int64
			if err == nil {
				n, err = io.Copy(&buf, io.LimitReader(rd, 64))
				if err == nil {
					var m int64
					m, err = io.Copy(io.Discard, rd)
					n += m
				}
			}
			r.mu.Lock()
			if err != nil {
				r.err = err
				r.mu.Unlock()
				return
			}
			r.sizes = append(r.sizes, int(n))
			if n <= 64 {
				r.small = append(r.small, buf.String())
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-r.done
	})
	return r
}

func (r *sizeReader) got() ([]int, []string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.sizes...), append([]string(nil), r.small...), r.err
}

// TestPolicy_OversizedMessageDoesNotCloseReaders is the issue's
// reproduction: with the defaults, a message larger than QueueBytes (5 MiB
// against 4 MiB) published, then at once a small one, to clients that read
// as fast as they can. Before, the small one found the big one still
// queued (its writer not yet scheduled) and closed the subscriber (1013),
// discarding both; now every client receives both.
func TestPolicy_OversizedMessageDoesNotCloseReaders(t *testing.T) {
	for _, n := range []int{1, 200} {
		t.Run(fmt.Sprintf("%d subscribers", n), func(t *testing.T) {
			// No write timeout: 200 readers of 5 MiB each on a loaded
			// machine may take longer than one, and this is not about it.
			s := newServer(t, &fanout.HubOptions{PingInterval: -1, DeliveryOptions: fanout.DeliveryOptions{WriteTimeout: -1},
				Limits: fanout.Limits{MaxMessageSize: -1}}) // a 5 MiB message
			readers := make([]*sizeReader, n)
			for i := range readers {
				readers[i] = readSizes(t, dialGorilla(t, s.url("topic=t"), nil))
			}
			eventually(t, func() bool { return s.hub.NumSubscribers("t") == n }, waitTimeout, "%d subscribed", n)

			const big = 5 << 20
			ctx := context.Background()
			require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewBinaryMessage(make([]byte, big))))
			require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("small"))))

			for i, r := range readers {
				eventually(t, func() bool {
					sizes, _, err := r.got()
					return len(sizes) >= 2 || err != nil
				}, waitTimeout, "client %d: both messages", i)
				sizes, small, err := r.got()
				require.NoError(t, err, "client %d", i)
				require.Equal(t, []int{big, 5}, sizes, "client %d", i)
				require.Equal(t, []string{"small"}, small, "client %d", i)
			}
			st := s.hub.Stats()
			assert.Zero(t, st.Closed)
			assert.Zero(t, st.Dropped)
			assert.Equal(t, n, st.Subscribers)
		})
	}
}

// TestPolicy_OversizedRule pins the rule with the writer held, so the
// queue's contents are known: a message larger than QueueBytes is not
// counted against QueueBytes (it is queued behind others and others queue
// behind it), but only one such message may wait at a time; the messages
// around it still share the QueueBytes bound.
func TestPolicy_OversizedRule(t *testing.T) {
	t.Parallel()
	const limit, small, big = 100, 40, 500
	onConnect, subs := connectHook()
	var rec slowRecorder
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueBytes: limit, Policy: fanout.PolicyDrop, OnSlow: rec.hook},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t") // message 0 is in the held write
	msg := func(c byte, n int) *fanout.Message { return fanout.NewMessage(bytes.Repeat([]byte{c}, n)) }
	ctx := context.Background()
	for _, m := range []*fanout.Message{msg('a', small), msg('B', big), msg('c', small)} {
		require.NoError(t, s.hub.Publish(ctx, "t", m))
	}
	assert.Equal(t, 3, st.sub.QueueLen(), "small, big, small: all queued")
	assert.Equal(t, small+big+small, st.sub.QueueBytes(), "QueueBytes reports every byte queued")
	assert.Empty(t, rec.list())

	require.NoError(t, s.hub.Publish(ctx, "t", msg('D', big)))   // a second oversized one
	require.NoError(t, s.hub.Publish(ctx, "t", msg('e', small))) // 40+40+40 > 100
	events := rec.list()
	require.Len(t, events, 2)
	assert.Equal(t, uint64(2), st.sub.Dropped())
	assert.Equal(t, 3, st.sub.QueueLen())

	st.release()
	got := st.col.waitN(t, 4)
	assert.Equal(t, "0", string(got[0].data))
	assert.Equal(t, msg('a', small).Data(), got[1].data)
	assert.Equal(t, msg('B', big).Data(), got[2].data)
	assert.Equal(t, msg('c', small).Data(), got[3].data)
	eventually(t, func() bool { return st.sub.QueueLen() == 0 && st.sub.Delivered() == 4 }, waitTimeout, "drained")

	// Once the writer took it, another oversized message is welcome.
	require.NoError(t, s.hub.Publish(ctx, "t", msg('F', big)))
	assert.Equal(t, msg('F', big).Data(), st.col.waitN(t, 5)[4].data)
	assert.Equal(t, uint64(2), st.sub.Dropped())
}

// TestPolicy_BurstDoesNotCloseReader: with the defaults, a client that reads
// as fast as it can survives 1,000 messages of 1 KiB published back to
// back, faster than its writer is scheduled: a burst is not a slow client.
// Before (a 256-message queue), it was closed with 1013 having received
// nothing.
func TestPolicy_BurstDoesNotCloseReader(t *testing.T) {
	t.Parallel()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1})
	col := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	eventually(t, func() bool { return s.hub.NumSubscribers("t") == 1 }, waitTimeout, "subscribed")

	const n = 1000
	pad := bytes.Repeat([]byte("x"), 1<<10)
	ms := make([]*fanout.Message, n)
	for i := range ms {
		ms[i] = fanout.NewMessage(append([]byte(fmt.Sprintf("%04d ", i)), pad...))
	}
	for _, m := range ms { // back to back: nothing between two publishes
		require.NoError(t, s.hub.Publish(context.Background(), "t", m))
	}
	got := col.waitN(t, n)
	for i, m := range got {
		require.Equal(t, ms[i].Data(), m.data, "message %d", i)
	}
	assert.Zero(t, s.hub.Stats().Closed)
	assert.Zero(t, s.hub.Stats().Dropped)
}

// TestPolicy_NotReadingClientClosedWithinBound: with the defaults, a client
// that does not read is still found slow and closed, once the queue holds
// QueueSize messages on top of what the kernel's buffers took (here at
// most a few hundred 1 KiB messages: the server's SendBufferSize and the
// client's receive buffer are small), as DeliveryOptions documents.
func TestPolicy_NotReadingClientClosedWithinBound(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1, SendBufferSize: 64 << 10})
	dialNotReading(t, s.url("topic=t"))
	sub := recv(t, subs, "subscriber")

	const queueSize = 4096 // the documented default
	const kernel = 512     // 1 KiB messages the kernel's buffers can take, at most
	payload := bytes.Repeat([]byte("x"), 1<<10)
	published := 0
	for s.hub.Stats().Closed == 0 {
		require.Less(t, published, queueSize+kernel, "not found slow within QueueSize plus what the kernel holds")
		require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage(payload)))
		published++
	}
	t.Logf("found slow after %d messages", published)
	assert.GreaterOrEqual(t, published, queueSize, "a burst of QueueSize messages fits")
	closedWithin(t, sub.Done(), "slow subscriber released")
}

// blockingServer is a counting server whose subscribers have queues of
// queueSize under PolicyBlock, and subs their OnConnect.
func blockingServer(t *testing.T, queueSize int) (*server, <-chan *fanout.Subscriber) {
	onConnect, subs := connectHook()
	return newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: queueSize, Policy: fanout.PolicyBlock},
		OnConnect:       onConnect,
		PingInterval:    -1,
	}), subs
}

// PolicyBlock: a publisher to a stalled subscriber's topic waits for room
// (it has not returned when the subscriber starts reading again, and
// returns once it does), publishes to other topics keep flowing meanwhile,
// and the stalled subscriber gets every message, in order.
func TestPolicyBlock_WaitsForRoom(t *testing.T) {
	t.Parallel()
	s, subs := blockingServer(t, 4)
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
	s, subs := blockingServer(t, 2)
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
	s, subs := blockingServer(t, 2)
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
