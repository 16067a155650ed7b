package fanout

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWSSink_DeadPeerAtNextTick pins when an unanswered ping makes a peer
// dead, without waiting for real ticks: at the keepalive tick that follows
// the ping, even when that tick comes a little less than PingInterval
// after the ping left (the ping leaves once the writer has woken, after
// the tick that asked for it). Before, such a peer was given one more
// interval: found dead up to 2×PingInterval after the ping, while the docs
// said PingInterval. A ping that left more than half an interval late
// (behind a long write) still gets until the tick after next.
func TestWSSink_DeadPeerAtNextTick(t *testing.T) {
	const every = 30 * time.Second
	for _, tc := range []struct {
		name string
		ago  time.Duration // since the unanswered ping left
		dead bool
	}{
		{"next tick, a little early", every - 5*time.Millisecond, true},
		{"next tick, on time", every, true},
		{"ping left late", every/2 - time.Millisecond, false},
		{"tick after next for a late ping", 3*every/2 - time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &wsSink{pongWait: every, pingSent: time.Now().Add(-tc.ago)}
			w.awaitingPong.Store(true)
			err := w.keepalive(context.Background(), 0)
			if dead := errors.Is(err, errDeadPeer); dead != tc.dead || !dead && err != nil {
				t.Fatalf("ping unanswered for %v at a tick: err %v, want dead %v", tc.ago, err, tc.dead)
			}
		})
	}
}
