package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// faultyEngine is the in-process engine with a feed that loses, repeats
// or renumbers messages as a distributed engine's live feed can, and a
// Read that can fail: for tests of how the Hub's Feed copes.
type faultyEngine struct {
	fanout.Engine
	mu      sync.Mutex
	alter   func(topic string, m *fanout.Message) []*fanout.Message // what the feed gets instead of m
	readErr error
}

func (e *faultyEngine) Start(feed fanout.Feed) {
	e.Engine.Start(alteredFeed{Feed: feed, deliver: func(topic string, m *fanout.Message) {
		e.mu.Lock()
		alter := e.alter
		e.mu.Unlock()
		out := []*fanout.Message{m}
		if alter != nil {
			out = alter(topic, m)
		}
		for _, m := range out {
			feed.Deliver(topic, m)
		}
	}})
}

func (e *faultyEngine) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	e.mu.Lock()
	err := e.readErr
	e.mu.Unlock()
	if err != nil {
		return nil, fanout.Position{}, err
	}
	return e.Engine.Read(ctx, from, topics)
}

// loseOffset makes the engine lose the message at offset n (its feed never
// gets it) and its history unreadable, so the gap cannot be filled.
func (e *faultyEngine) loseOffset(n uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.readErr = errors.New("history unreachable")
	e.alter = func(_ string, m *fanout.Message) []*fanout.Message {
		if offsetIn(m, n) {
			return nil
		}
		return []*fanout.Message{m}
	}
}

// reborn makes the engine's feed deliver every message from now on in a
// new epoch, "reborn", its offset moved by shift: the engine lost its
// history (Redis restarted empty).
func (e *faultyEngine) reborn(shift int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.alter = func(topic string, m *fanout.Message) []*fanout.Message {
		p := m.Position()
		p.Epoch = "reborn"
		p.Offset = uint64(int(p.Offset) + shift)
		return []*fanout.Message{m.Stored(topic, p)}
	}
}

// alteredFeed is a Feed whose deliveries go through deliver.
type alteredFeed struct {
	fanout.Feed
	deliver func(topic string, m *fanout.Message)
}

func (f alteredFeed) Deliver(topic string, m *fanout.Message) { f.deliver(topic, m) }

// feedEnv is a Hub (with an attached Broker) on a faultyEngine over a Ring.
func feedEnv(t *testing.T, eng *faultyEngine) *rsEnv { return observedFeedEnv(t, eng, nil) }

// observedFeedEnv is feedEnv with obs as the Hub's Observer, if not nil.
func observedFeedEnv(t *testing.T, eng *faultyEngine, obs fanout.Observer) *rsEnv {
	return rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
		ho.Observer = obs
		eng.Engine = fanout.NewLocalEngine(ho.Replay)
		ho.Engine = eng
	})
}

func offsetIn(m *fanout.Message, offsets ...uint64) bool {
	for _, o := range offsets {
		if m.Position().Offset == o {
			return true
		}
	}
	return false
}

// A message the feed skips is filled in from the engine's history before
// what follows it, and one it repeats is delivered once: no gap, no
// duplicate, no resync.
func TestFeed_FillsGapsAndDropsDuplicates(t *testing.T) {
	t.Parallel()
	eng := &faultyEngine{alter: func(_ string, m *fanout.Message) []*fanout.Message {
		switch {
		case offsetIn(m, 3, 4, 9): // lost by the feed
			return nil
		case offsetIn(m, 6):
			return []*fanout.Message{m, m}
		}
		return []*fanout.Message{m}
	}}
	e := feedEnv(t, eng)
	sse := e.rsOpenSSE(t, []string{"t"}, "", false)
	ws := e.rsOpenWS(t, []string{"t"}, "", true, fanout.ResumeSubprotocol)
	for i := 1; i <= 10; i++ {
		e.publish(t, "t", fmt.Sprint(i))
	}
	want := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
	assert.Equal(t, want, rsData(sse.take(t, 10)), "SSE")
	assert.Equal(t, want, rsData(ws.take(t, 10)), "WebSocket")
	assert.Zero(t, len(e.resyncs), "no resync")
}

// A gap that spans messages of topics nobody here follows is filled with
// what the history holds for the topics that are followed: the others are
// not missing, just not ours. No resync.
func TestFeed_FillsAcrossOtherTopics(t *testing.T) {
	t.Parallel()
	eng := &faultyEngine{alter: func(_ string, m *fanout.Message) []*fanout.Message {
		if offsetIn(m, 2, 3, 4) { // "t", "u", "t": lost by the feed
			return nil
		}
		return []*fanout.Message{m}
	}}
	e := feedEnv(t, eng)
	sse := e.rsOpenSSE(t, []string{"t"}, "", false)
	for i, topic := range []string{"t", "t", "u", "t", "t"} {
		e.publish(t, topic, fmt.Sprint(i+1))
	}
	assert.Equal(t, []string{"1", "2", "4", "5"}, rsData(sse.take(t, 4)))
	assert.Zero(t, len(e.resyncs), "no resync")
}

// When the history cannot fill a gap either, the subscribers that follow
// the partition get the resync signal (and OnResync), then what follows:
// the loss is never silent.
func TestFeed_UnfillableGapResyncs(t *testing.T) {
	t.Parallel()
	eng := &faultyEngine{}
	e := feedEnv(t, eng)
	sse := e.rsOpenSSE(t, []string{"t"}, "", false)
	ws := e.rsOpenWS(t, []string{"t"}, "", true, fanout.ResumeSubprotocol)
	e.publish(t, "t", "1")
	first := sse.next(t)
	require.Equal(t, "1", first.data)
	require.Equal(t, "1", ws.next(t).data)

	eng.loseOffset(2)
	e.publish(t, "t", "2") // lost
	e.publish(t, "t", "3")
	for _, f := range []*rsFeed{sse, ws} {
		r := f.next(t)
		assert.True(t, r.resync, "the resync signal, not a silent gap: %+v", r)
		assert.Equal(t, "lost", r.data, "the Observer's word for messages the engine lost")
		assert.Equal(t, "3", f.next(t).data, "then what follows")
	}
	for range 2 {
		r := recv(t, e.resyncs, "OnResync")
		assert.Equal(t, first.id, r.lastID, "the last position delivered before the gap")
	}
}

// A new epoch on the feed (the engine lost its history: Redis restarted
// empty) resyncs every subscriber, then delivery goes on in the new epoch.
func TestFeed_NewEpochResyncs(t *testing.T) {
	t.Parallel()
	eng := &faultyEngine{}
	e := feedEnv(t, eng)
	sse := e.rsOpenSSE(t, []string{"t"}, "", false)
	e.publish(t, "t", "1")
	require.Equal(t, "1", sse.next(t).data)
	eng.reborn(-1)
	e.publish(t, "t", "2")
	r := sse.next(t)
	require.True(t, r.resync, "%+v", r)
	assert.Equal(t, "lost", r.data, "the Observer's word for messages the engine lost")
	next := sse.next(t)
	assert.Equal(t, "2", next.data)
	assert.Equal(t, "reborn-1", next.id)
	rs := recv(t, e.resyncs, "OnResync")
	require.ErrorIs(t, rs.err, fanout.ErrUnknownID)
}

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
