package client_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// resettable is the in-process engine with a handle on the feed the Hub
// gave it, so that a test can make it report a loss (Feed.Reset), as the
// Redis engine does when Redis lost messages.
type resettable struct {
	fanout.Engine
	mu   sync.Mutex
	feed fanout.Feed
}

func (e *resettable) Start(f fanout.Feed) {
	e.mu.Lock()
	e.feed = f
	e.mu.Unlock()
	e.Engine.Start(f)
}

func (e *resettable) reset(err error) {
	e.mu.Lock()
	f := e.feed
	e.mu.Unlock()
	f.Reset(0, err)
}

// TestClient_PlainResyncLost: a Hub closes a plain WebSocket with
// fanout.StatusResync when its engine lost messages (no frame of its own
// may enter a plain stream); the client reports that loss, with the
// server's reason (ResyncLost), once it has reconnected, before the new
// connection's messages: not as the generic ResyncUnresumable.
func TestClient_PlainResyncLost(t *testing.T) {
	t.Parallel()
	opts := storeOptions()
	eng := &resettable{Engine: fanout.NewLocalEngine(opts.Replay)}
	opts.Engine = eng
	s := newServer(t, opts)
	o := &client.Options{Mode: client.ModePlain}
	ev := hook(o)
	r := startReader(t, dial(t, s.wsURL("room"), o))
	ev.connected(t)
	s.publish("room", 1, 2)
	checkSequence(t, r.numbers(2), 1, 2)

	eng.reset(errors.New("the engine's history was reset"))
	ev.connected(t)
	m := r.next()
	if !m.Resync || string(m.Data) != client.ResyncLost {
		t.Fatalf("after the server's resync close: %+v, want a resync %q", m, client.ResyncLost)
	}
	s.publish("room", 3, 4)
	checkSequence(t, r.numbers(2), 3, 4)
}
