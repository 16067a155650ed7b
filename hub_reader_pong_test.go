package fanout_test

import (
	"context"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHubMessageWithPongLeavesNoReader: a message and a pong that arrive
// together are read in one go by coder/websocket's buffer; the idle reader
// takes the pong back from it, instead of leaving coder/websocket to take
// it and park its reader until the client's next message. Not parallel: it
// counts the goroutines of every Hub in the process.
func TestHubMessageWithPongLeavesNoReader(t *testing.T) {
	before := idleReaders()
	got := make(chan string, 4)
	pongs := make(chan string, 4)
	s := newServer(t, &fanout.HubOptions{
		OnMessage:     func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
		AcceptOptions: &websocket.AcceptOptions{OnPongReceived: func(_ context.Context, p []byte) { pongs <- string(p) }},
	})
	p := dialPeer(t, s.url("topic=t"))
	eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "subscribed")
	for i, payload := range []string{"m1", "m2"} {
		require.NoError(t, p.send(append(cframe(0x81, []byte(payload)), cframe(0x8A, []byte{'p', '1' + byte(i)})...), 0))
		assert.Equal(t, payload, recv(t, got, "message"))
		assert.Equal(t, string([]byte{'p', '1' + byte(i)}), recv(t, pongs, "the pong behind it"))
		eventually(t, func() bool { return idleReaders() == before }, waitTimeout,
			"no reader left after a message and a pong (%d now)", idleReaders()-before)
	}
}
