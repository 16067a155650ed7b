package fanout_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_SubprotocolCase: subprotocols are chosen ignoring letter case
// (as coder/websocket selects them, echoing the client's spelling), and
// the frame format follows the same choice: a client offering
// FANOUT.RESUME.V1 is resumed AND gets the resume framing (position,
// replay with IDs, live with IDs); one offering FANOUT.PACKED.V1 gets
// packed frames. Before, such clients were resumed but written plain
// frames: the position as an empty text frame, the replay without IDs.
func TestHub_SubprotocolCase(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{
		Replay:       fanout.NewRing(nil),
		Packing:      true,
		OnConnect:    onConnect,
		PingInterval: -1,
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("one"))))
	require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("two"))))

	// records reads one frame, which must be a packed one.
	records := func(t *testing.T, c *websocket.Conn) []fanout.Record {
		t.Helper()
		typ, frame, err := c.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, websocket.MessageBinary, typ, "a packed frame, not %q", frame)
		var rs []fanout.Record
		require.NoError(t, fanout.UnpackRecords(frame, func(r fanout.Record) error {
			r.Data = append([]byte(nil), r.Data...)
			rs = append(rs, r)
			return nil
		}))
		return rs
	}
	dial := func(t *testing.T, query, proto string) *websocket.Conn {
		t.Helper()
		c := dialCoder(t, s.url(query), &websocket.DialOptions{Subprotocols: []string{proto}})
		assert.Equal(t, proto, c.Subprotocol(), "the client's spelling, echoed")
		sub := recv(t, subs, "subscriber")
		assert.Equal(t, proto, sub.Subprotocol())
		return c
	}

	// A new resume connection starts with its position: the ID of "two".
	c := dial(t, "topic=t", "FANOUT.RESUME.V1")
	pos := records(t, c)
	require.Len(t, pos, 1)
	require.True(t, pos[0].Position, "a position record: %+v", pos[0])
	second := pos[0].ID
	require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("three"))))
	live := records(t, c)
	require.Len(t, live, 1)
	assert.Equal(t, "three", string(live[0].Data))
	assert.NotEmpty(t, live[0].ID, "live messages carry their IDs")

	// Resuming from "two" replays "three", with its ID.
	c = dial(t, "topic=t&lastEventId="+url.QueryEscape(second), "Fanout.Resume.V1")
	replay := records(t, c)
	require.Len(t, replay, 1)
	assert.Equal(t, "three", string(replay[0].Data))
	assert.Equal(t, live[0].ID, replay[0].ID)

	// Resuming from an unknown ID: a resync record, not the text "unknown",
	// then the position the stream goes on from.
	c = dial(t, "topic=t&lastEventId=nope", "FANOUT.RESUME.V1")
	rs := records(t, c)
	require.Len(t, rs, 2)
	assert.True(t, rs[0].Resync)
	assert.True(t, rs[1].Position)
	assert.Equal(t, live[0].ID, rs[1].ID, "the head")

	// Packed, in capitals: packed frames, no IDs.
	c = dial(t, "topic=t", "FANOUT.PACKED.V1")
	require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("four"))))
	packed := records(t, c)
	require.Len(t, packed, 1)
	assert.Equal(t, "four", string(packed[0].Data))
	assert.Empty(t, packed[0].ID)
}
