package main

import (
	"testing"
	"time"
)

// TestClients_DoNotAllocate checks that the clients allocate nothing per
// message, so that a run's allocations are the server's: against servers
// that allocate per publish and nothing per subscriber (the limit row for
// WebSocket, go-sse for SSE), a delivery costs (almost) nothing. (The
// fanout Broker no longer qualifies: since its writers start when there is
// something to write, each batch write allocates, about 0.45 per delivery
// in this test, in (*Subscriber).signal and step.)
func TestClients_DoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not measured under -race (its instrumentation allocates); and " + racyReason)
	}
	limit, _ := selectPeers("limit")
	broker, _ := selectPeers("go-sse")
	cfg := config{Subs: 50, Msgs: 400, Burst: 4, Size: 64, Tick: time.Millisecond, Stall: 10 * time.Second, Par: 16}
	for _, tc := range []struct {
		name string
		p    peer
		raw  bool
	}{{"coder", limit[0], false}, {"raw", limit[0], true}, {"sse", broker[0], false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.RawWS = tc.raw
			res, err := runOnce(tc.p, c, make([]int64, c.Subs*c.Msgs))
			if err != nil || res.Err != "" {
				t.Fatalf("run: %v %s", err, res.Err)
			}
			// The publisher's allocations are a few per message, spread
			// over 50 subscribers; a client allocation per message would
			// add 1.
			t.Logf("%.3f allocations per delivered message", res.AllocsPerMsg())
			if a := res.AllocsPerMsg(); a > 0.25 {
				t.Errorf("%.3f allocations per delivered message", a)
			}
		})
	}
}
