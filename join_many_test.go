package fanout_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_ManyTopicsDoNotHoldPublish: subscribers joining 10,000 topics
// each (Limits.MaxTopics lifted), 4 at once, do not hold a concurrent
// Publish: the Hub joins a bounded number of topics per hold of the lock
// that publishing needs, each in O(1). Before, joining k topics was
// O(k²) under that lock, and each such request held every Publish for
// 0.2 to 0.5 s here (0.4 s under -race); now 1.5 to 5 ms (8 to 19 ms
// under -race), the time of a GC or of the scheduler, not of a lock. Not
// parallel: it measures latency, which other tests' load would blur. The
// bound, 150 ms, sits well under the old code's 400 ms and well over
// what a loaded machine (load average 12: 74 ms seen) adds to the new.
func TestHub_ManyTopicsDoNotHoldPublish(t *testing.T) {
	const subs, topics = 4, 10_000
	s := newServer(t, &fanout.HubOptions{PingInterval: -1, Limits: fanout.Limits{MaxTopics: -1}})
	probe := collectCoder(t, dialCoder(t, s.url("topic=probe"), nil))
	ctx := context.Background()
	require.NoError(t, s.hub.Publish(ctx, "probe", num(0)))
	probe.waitN(t, 1)

	var wg sync.WaitGroup
	for range subs {
		wg.Go(func() { dialCoder(t, s.url(topicQuery(topics, 1)), nil) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	var worst time.Duration
	published := 1
	for isOpen(done) {
		start := time.Now()
		require.NoError(t, s.hub.Publish(ctx, "probe", num(published)))
		worst = max(worst, time.Since(start))
		published++
		time.Sleep(time.Millisecond) // pacing, not synchronisation
	}
	eventually(t, func() bool { return s.hub.NumSubscribers("t9999") == subs }, waitTimeout, "%d subscribers of %d topics", subs, topics)
	probe.waitN(t, published)
	t.Logf("%d publishes while %d subscribers joined %d topics each: the slowest took %v", published, subs, topics, worst)
	assert.Less(t, worst, 150*time.Millisecond, "the slowest Publish")
}
