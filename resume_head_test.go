package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestResume_PositionFromTheStoresHead: a new subscriber's position is the
// store's head, not the last message this Hub published: with a store that
// already holds messages (one that outlived a restart) and with an empty
// one, a client that drops before its first message comes back with that
// position and gets exactly what was published meanwhile. (Before the
// engine seam, such a client got no position, reconnected without an ID,
// and silently missed those messages.)
func TestResume_PositionFromTheStoresHead(t *testing.T) {
	t.Parallel()
	for _, prefilled := range []int{0, 3} {
		for _, ws := range []bool{false, true} {
			name := fmt.Sprintf("sse_prefilled=%d", prefilled)
			if ws {
				name = fmt.Sprintf("ws_prefilled=%d", prefilled)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				ring := fanout.NewRing(nil)
				for i := range prefilled { // what a previous process stored
					_, err := ring.Append(ctx, "t", fanout.NewMessage(fmt.Appendf(nil, "old %d", i)))
					require.NoError(t, err)
				}
				hub := fanout.NewHub(&fanout.HubOptions{Replay: ring})
				e := &rsEnv{hub: hub, srv: serveBoth(t, hub, fanout.NewBroker(&fanout.BrokerOptions{Hub: hub})),
					client: &http.Client{Transport: &http.Transport{}}}
				t.Cleanup(e.client.CloseIdleConnections)
				open := func(lastID string) *rsFeed {
					if ws {
						return e.rsOpenWS(t, []string{"t"}, lastID, true, fanout.ResumeSubprotocol)
					}
					return e.rsOpenSSE(t, []string{"t"}, lastID, false)
				}

				f := open("")
				first := f.nextRecord(t)
				f.close()
				require.True(t, first.position, "a new stream starts with its position: %+v", first)
				require.True(t, strings.HasSuffix(first.id, fmt.Sprintf("-%d", prefilled)), "the store's head: %q", first.id)

				for i := range 3 { // while the client is away
					require.NoError(t, hub.Publish(ctx, "t", fanout.NewMessage(fmt.Appendf(nil, "new %d", i))))
				}
				got := open(first.id).take(t, 3)
				assert.Equal(t, []string{"new 0", "new 1", "new 2"}, rsData(got), "exactly what was published while it was away")
				assert.False(t, got[0].resync)
			})
		}
	}
}
