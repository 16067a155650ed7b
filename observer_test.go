package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// obsRecorder is an Observer that records every call.
type obsRecorder struct {
	mu      sync.Mutex
	writes  []fanout.BatchWrite
	slow    []slowCall
	resyncs []fanout.Resync
}

type slowCall struct {
	ev      fanout.SlowEvent
	applied fanout.Policy
}

var _ fanout.Observer = (*obsRecorder)(nil)

func (r *obsRecorder) BatchWritten(w fanout.BatchWrite) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, w)
}

func (r *obsRecorder) SubscriberSlow(ev fanout.SlowEvent, applied fanout.Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slow = append(r.slow, slowCall{ev, applied})
}

func (r *obsRecorder) Resynced(rs fanout.Resync) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resyncs = append(r.resyncs, rs)
}

func (r *obsRecorder) batches() []fanout.BatchWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.writes)
}

func (r *obsRecorder) slows() []slowCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.slow)
}

func (r *obsRecorder) resynced() []fanout.Resync {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.resyncs)
}

// Every batch a writer counts in Stats is reported once, and the reports
// add up to Stats: messages to Delivered, writes to Writes, bytes to
// Bytes.
func TestObserver_BatchWritesAddUpToStats(t *testing.T) {
	t.Parallel()
	rec := &obsRecorder{}
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: rec},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	const clients, n = 3, 50
	var cols []*collector
	for range clients {
		cols = append(cols, collectCoder(t, dialCoder(t, s.url("topic=t"), nil)))
		recv(t, subs, "subscriber")
	}
	for i := range n {
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
	}
	for _, col := range cols {
		col.waitN(t, n)
	}
	// A writer reports its batch just after counting it in Stats.
	var (
		st fanout.Stats
		ws []fanout.BatchWrite
	)
	eventually(t, func() bool {
		st, ws = s.hub.Stats(), rec.batches()
		return st.Delivered == clients*n && len(ws) == int(st.Batches)
	}, waitTimeout, "every batch counted and reported")
	var msgs, writes, bytes int
	for _, w := range ws {
		msgs += w.Messages
		writes += w.Writes
		bytes += w.Bytes
		assert.NoError(t, w.Err)
		assert.NotNil(t, w.Subscriber)
		assert.GreaterOrEqual(t, w.Duration, 0*w.Duration)
		assert.GreaterOrEqual(t, w.Queued, 0)
	}
	assert.Equal(t, st.Delivered, uint64(msgs))
	assert.Equal(t, st.Writes, uint64(writes))
	assert.Equal(t, st.Bytes, uint64(bytes))
}

// Queued tells how far behind its batch a writer is: with five messages
// queued behind a held write and MaxBatch 2, the writer then takes 2
// (3 left), 2 (1 left) and 1 (none left).
func TestObserver_QueuedBehindBatch(t *testing.T) {
	t.Parallel()
	rec := &obsRecorder{}
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: rec, MaxBatch: 2},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	st := stallOne(t, s, subs, "topic=t") // message 0 is in the held write
	for i := 1; i <= 5; i++ {
		require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
	}
	st.release()
	st.col.waitN(t, 6)
	eventually(t, func() bool { return len(rec.batches()) == 4 }, waitTimeout, "four batches reported")
	var got [][2]int
	for _, w := range rec.batches() {
		got = append(got, [2]int{w.Messages, w.Queued})
	}
	assert.Equal(t, [][2]int{{1, 0}, {2, 3}, {2, 1}, {1, 0}}, got, "messages and queued, batch by batch")
}

// Each slow event is reported after its policy is applied, with the
// policy applied: the configured one, OnSlow's choice, or PolicyClose for
// a policy OnSlow made up.
func TestObserver_SlowEvents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		choose  func(fanout.SlowEvent) fanout.Policy
		applied fanout.Policy
		check   func(t *testing.T, st fanout.Stats)
	}{
		{name: "configured", applied: fanout.PolicyDrop,
			check: func(t *testing.T, st fanout.Stats) { assert.Equal(t, uint64(1), st.Dropped) }},
		{name: "chosen", applied: fanout.PolicyRemove,
			choose: func(fanout.SlowEvent) fanout.Policy { return fanout.PolicyRemove },
			check:  func(t *testing.T, st fanout.Stats) { assert.Equal(t, uint64(1), st.Removed) }},
		{name: "unknown", applied: fanout.PolicyClose,
			choose: func(fanout.SlowEvent) fanout.Policy { return fanout.Policy(42) },
			check:  func(t *testing.T, st fanout.Stats) { assert.Equal(t, uint64(1), st.Closed) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const queue = 2
			rec := &obsRecorder{}
			onConnect, subs := connectHook()
			s := newCountingServer(t, &fanout.HubOptions{
				DeliveryOptions: fanout.DeliveryOptions{Observer: rec, QueueSize: queue,
					Policy: fanout.PolicyDrop, OnSlow: tc.choose},
				OnConnect:    onConnect,
				PingInterval: -1,
			})
			st := stallOne(t, s, subs, "topic=t")
			for i := 1; i <= queue+1; i++ {
				require.NoError(t, s.hub.Publish(context.Background(), "t", num(i)))
			}
			calls := rec.slows()
			require.Len(t, calls, 1, "one slow event, reported by the time Publish returned")
			assert.Equal(t, fanout.SlowQueueFull, calls[0].ev.Reason)
			assert.Equal(t, fanout.PolicyDrop, calls[0].ev.Policy, "the configured policy")
			assert.Equal(t, tc.applied, calls[0].applied)
			assert.Same(t, st.sub, calls[0].ev.Subscriber)
			tc.check(t, s.hub.Stats())
			st.release()
		})
	}
}

// A client that resumes from an ID the history does not hold is reported
// as ResyncUnknown, one whose history cannot be read as ResyncUnavailable,
// on both doors.
func TestObserver_ResumeResyncs(t *testing.T) {
	t.Parallel()
	for _, door := range []string{"hub", "broker"} {
		t.Run(door, func(t *testing.T) {
			t.Parallel()
			rec := &obsRecorder{}
			eng := &faultyEngine{}
			e := observedFeedEnv(t, eng, rec)
			open := func(lastID string) *rsFeed {
				if door == "hub" {
					return e.rsOpenWS(t, []string{"t"}, lastID, true, fanout.ResumeSubprotocolV2)
				}
				return e.rsOpenSSE(t, []string{"t"}, lastID, false)
			}
			f := open("nosuch-7")
			require.True(t, f.next(t).resync)
			recv(t, e.resyncs, "OnResync")
			f.close()

			eng.mu.Lock()
			eng.readErr = errors.New("history unreachable")
			eng.mu.Unlock()
			e.publish(t, "t", "1")
			head, err := e.ring.Head(context.Background())
			require.NoError(t, err)
			id := head.ID()
			f = open(id)
			require.True(t, f.next(t).resync)
			recv(t, e.resyncs, "OnResync")
			f.close()

			got := rec.resynced()
			require.Len(t, got, 2, "reported by the time OnResync ran")
			assert.Equal(t, fanout.ResyncUnknown, got[0].Reason)
			assert.ErrorIs(t, got[0].Err, fanout.ErrUnknownID)
			assert.Equal(t, fanout.ResyncUnavailable, got[1].Reason)
			assert.NotErrorIs(t, got[1].Err, fanout.ErrUnknownID)
			for _, r := range got {
				assert.Equal(t, 1, r.Subscribers)
			}
		})
	}
}

// Messages the engine lost are reported once, as ResyncLost, with the
// number of subscribers the signal went to.
func TestObserver_LostResyncs(t *testing.T) {
	t.Parallel()
	rec := &obsRecorder{}
	eng := &faultyEngine{}
	e := observedFeedEnv(t, eng, rec)
	sse := e.rsOpenSSE(t, []string{"t"}, "", false)
	ws := e.rsOpenWS(t, []string{"t"}, "", true, fanout.ResumeSubprotocol)
	e.publish(t, "t", "1")
	require.Equal(t, "1", sse.next(t).data)
	require.Equal(t, "1", ws.next(t).data)

	eng.loseOffset(2)
	e.publish(t, "t", "2") // lost
	e.publish(t, "t", "3")
	for _, f := range []*rsFeed{sse, ws} {
		require.True(t, f.next(t).resync)
	}
	got := rec.resynced()
	require.Len(t, got, 1, "one loss, reported by the time Publish returned")
	assert.Equal(t, fanout.ResyncLost, got[0].Reason)
	assert.Equal(t, 2, got[0].Subscribers)
	assert.Error(t, got[0].Err)
}

func TestResyncReason_String(t *testing.T) {
	t.Parallel()
	for r, want := range map[fanout.ResyncReason]string{
		fanout.ResyncUnknown: "unknown", fanout.ResyncUnavailable: "unavailable", fanout.ResyncLost: "lost",
		fanout.ResyncReason(9): "ResyncReason(9)",
	} {
		assert.Equal(t, want, r.String(), fmt.Sprint(uint8(r)))
	}
}
