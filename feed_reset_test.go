package fanout_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// feedCatcher is an Engine that keeps the Feed it is started with, so a
// test can call it as an engine would.
type feedCatcher struct {
	fanout.Engine
	feed fanout.Feed
}

func (c *feedCatcher) Start(f fanout.Feed) {
	c.feed = f
	c.Engine.Start(f)
}

// TestFeed_Reset: an engine that finds its history lost with no message
// to show it (Redis restarted empty, say) resets the feed: the
// partition's subscribers, WebSocket and SSE, get the resync signal and
// OnResync runs; the next message is delivered as a new start.
func TestFeed_Reset(t *testing.T) {
	t.Parallel()
	var catcher *feedCatcher
	e := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
		catcher = &feedCatcher{Engine: fanout.NewLocalEngine(ho.Replay)}
		ho.Engine = catcher
	})
	ws := e.rsOpenWS(t, []string{"a"}, "", false, fanout.ResumeSubprotocol)
	es := e.rsOpenSSE(t, []string{"a"}, "", false)
	e.publish(t, "a", "1")
	for _, f := range []*rsFeed{ws, es} {
		require.Equal(t, "1", f.next(t).data)
	}
	catcher.feed.Reset(0, fmt.Errorf("%w: the test lost the history", fanout.ErrUnknownID))
	for _, f := range []*rsFeed{ws, es} {
		require.True(t, f.next(t).resync, "the resync signal")
	}
	for range 2 {
		select {
		case r := <-e.resyncs:
			require.ErrorIs(t, r.err, fanout.ErrUnknownID)
		case <-time.After(waitTimeout):
			t.Fatal("OnResync did not run for both subscribers")
		}
	}
	e.publish(t, "a", "2")
	for _, f := range []*rsFeed{ws, es} {
		require.Equal(t, "2", f.next(t).data)
	}
}
