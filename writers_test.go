package fanout_test

import (
	"context"
	"runtime/metrics"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/stretchr/testify/require"
)

// goroutinesCreated returns how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestWriters_Reused: when every message is its own write (each published
// once the one before was written), the subscriber's writer is a parked
// goroutine woken for it, not a new goroutine per message; parked writers
// exit once they have waited a while for work. (Not parallel: it counts
// the process's goroutines.)
func TestWriters_Reused(t *testing.T) {
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	col := collectGorilla(t, dialGorilla(t, s.url("topic=t"), nil))
	sub := recv(t, subs, "subscriber")
	checkWritersReused(t, s.hub, sub, func(n int) { col.waitN(t, n) })
}

// checkWritersReused publishes to sub's topic "t" on d one message at a
// time (each once the one before was written) and checks that writers
// were reused, then that the parked one exits, and that none is left
// after Close. received waits for the client to have n messages.
func checkWritersReused(t *testing.T, d interface {
	Publish(context.Context, string, *fanout.Message) error
	ParkedWriters() int
	Close() error
}, sub *fanout.Subscriber, received func(n int)) {
	t.Helper()
	const n = 200
	publish := func(i int) {
		require.NoError(t, d.Publish(context.Background(), "t", num(i)))
		eventually(t, func() bool { return sub.Delivered() == uint64(i+1) }, waitTimeout, "message %d written", i)
	}
	publish(0) // the first writer starts
	before := goroutinesCreated()
	for i := 1; i < n; i++ {
		publish(i)
	}
	created := goroutinesCreated() - before
	t.Logf("%d goroutines started for %d writes", created, n-1)
	require.Less(t, created, uint64(n/4), "goroutines started for %d writes, one at a time", n-1)
	received(n)

	require.Positive(t, d.ParkedWriters(), "the writer parked")
	eventually(t, func() bool { return d.ParkedWriters() == 0 }, waitTimeout, "parked writers to exit")
	publish(n) // a writer starts again
	require.NoError(t, d.Close())
	require.Zero(t, d.ParkedWriters(), "a writer parked after Close")
}

// TestWriters_ParkedEndAtClose: Close ends the writers parked at once,
// without waiting for them to time out.
func TestWriters_ParkedEndAtClose(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
	for range 3 {
		dialGorilla(t, s.url("topic=t"), nil)
		recv(t, subs, "subscriber")
	}
	require.NoError(t, s.hub.Publish(context.Background(), "t", num(1)))
	eventually(t, func() bool { return s.hub.ParkedWriters() > 0 }, waitTimeout, "a parked writer")
	require.NoError(t, s.hub.Close())
	require.Zero(t, s.hub.ParkedWriters())
}

// TestWriters_BrokerReused is TestWriters_Reused for the Broker's SSE
// subscribers (hijacked connections, the default): one write per message
// wakes a parked writer rather than starting a goroutine. (Not parallel:
// it counts the process's goroutines.)
func TestWriters_BrokerReused(t *testing.T) {
	opts := &fanout.BrokerOptions{}
	hooks := newSSEHooks(opts)
	s := newSSEServer(t, opts)
	stream := sseOpen(t, s.url("topic=t"), nil)
	sub := hooks.sub(t)
	checkWritersReused(t, s.broker, sub, func(n int) { stream.waitN(t, n) })
}
