package fanout_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_BroadcastStartsWritersAfterLoop checks that a fan-out readies
// no writer while it still loops over the subscribers: a writer readied
// mid-loop is a runnable goroutine that a long loop, preempted after its
// time slice, queued behind (a Broadcast to 19,500 subscribers waited for
// a P for two thirds of its call: bench/results/broadcast-scaling.txt).
// keep runs inside the loop: at the last subscriber, no write may have
// happened yet, however long it waits. Then every subscriber gets the
// message. Both sizes: writers started by the publisher after its loop,
// and (more than FanoutInline) on a goroutine of the writer cache.
func TestHub_BroadcastStartsWritersAfterLoop(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, fanout.FanoutInline + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &fanout.HubOptions{PingInterval: -1})
			cols := make([]*collector, n)
			for i := range cols {
				cols[i] = collectCoder(t, dialCoder(t, s.url(""), nil))
			}
			eventually(t, func() bool { return s.hub.Len() == n }, waitTimeout, "%d subscribers", n)
			// The writer each subscription starts (for what is queued
			// when it begins) must be done, or it would write the
			// message itself while the loop runs.
			eventually(t, s.hub.WritersIdle, waitTimeout, "the subscriptions' first writers done")

			seen, wrote := 0, false
			require.NoError(t, s.hub.BroadcastFilter(context.Background(), fanout.NewMessage([]byte("all")), func(*fanout.Subscriber) bool {
				seen++ // keep runs on the publishing goroutine
				if seen == n {
					// Long enough for a writer readied at the first
					// subscriber to have written, on a loaded machine.
					deadline := time.Now().Add(500 * time.Millisecond)
					for !wrote && time.Now().Before(deadline) {
						wrote = s.hub.Stats().Writes > 0
						time.Sleep(time.Millisecond) // polling a condition, with a deadline
					}
				}
				return true
			}))
			assert.False(t, wrote, "a writer wrote while the fan-out still looped")
			for i, col := range cols {
				assert.Equal(t, []string{"all"}, texts(col.waitN(t, 1)), "subscriber %d", i)
			}
		})
	}
}
