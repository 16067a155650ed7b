package fanout_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// rest returns what f received after what the test took, once its
// connection has ended, and the error it ended with.
func (f *rsFeed) rest(t testing.TB) ([]rsRecord, error) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(waitTimeout):
		t.Fatalf("the connection did not end within %v", waitTimeout)
	}
	var out []rsRecord
	for {
		select {
		case r := <-f.ch:
			out = append(out, r)
			continue
		default:
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return out, f.err
	}
}

// TestHub_PlainClientResyncCloses: when the engine loses messages (here,
// a new epoch: its history was reset), a plain WebSocket client (no
// fanout subprotocol) is never written bytes the application did not
// publish: it gets what was queued before the loss, then a close with
// StatusResync and the reason "fanout.resync: lost", and nothing after.
// The clients that have a way to say it get the resync signal in band,
// with the word the Observer uses for the same event ("lost"), then what
// follows. OnResync is called for every one of them. Both kinds of plain
// connection: one the Hub accepted, one the application registered.
func TestHub_PlainClientResyncCloses(t *testing.T) {
	t.Parallel()
	eng := &faultyEngine{}
	e := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
		eng.Engine = fanout.NewLocalEngine(ho.Replay)
		ho.Engine = eng
		ho.Packing = true
	})
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx := conn.CloseRead(context.Background())
		s, err := e.hub.Register(ctx, conn, fanout.Grant{Topics: []string{"t"}})
		if err != nil {
			_ = conn.CloseNow()
			return
		}
		<-s.Done()
	}))
	t.Cleanup(reg.Close)

	wsURL := "ws" + strings.TrimPrefix(reg.URL, "http")
	registered := dialCoder(t, wsURL, nil)
	regFeed := newRSFeed(func() { _ = registered.CloseNow() }, func(emit func(rsRecord)) error {
		return rsReadWS(context.Background(), registered, func(r rsRecord) bool { emit(r); return true })
	})
	t.Cleanup(regFeed.close)
	plain := map[string]*rsFeed{
		"accepted":   e.rsOpenWS(t, []string{"t"}, "", true),
		"registered": regFeed,
	}
	inBand := map[string]*rsFeed{
		"resume v1": e.rsOpenWS(t, []string{"t"}, "", true, fanout.ResumeSubprotocol),
		"resume v2": e.rsOpenWS(t, []string{"t"}, "", true, fanout.ResumeSubprotocolV2),
		"packed":    e.rsOpenWS(t, []string{"t"}, "", true, fanout.PackedSubprotocol),
		"sse":       e.rsOpenSSE(t, []string{"t"}, "", false),
	}
	eventually(t, func() bool { return e.hub.Len() == len(plain)+len(inBand) }, waitTimeout, "subscribed")

	e.publish(t, "t", "1")
	for name, f := range plain {
		assert.Equal(t, "1", f.next(t).data, name)
	}
	for name, f := range inBand {
		assert.Equal(t, "1", f.next(t).data, name)
	}

	eng.reborn(-1)
	e.publish(t, "t", "2")

	for name, f := range inBand {
		r := f.next(t)
		assert.True(t, r.resync, "%s: the resync signal: %+v", name, r)
		assert.Equal(t, fanout.ResyncLost.String(), r.data, "%s: the Observer's word for it", name)
		assert.Equal(t, "2", f.next(t).data, "%s: then what follows", name)
	}
	for name, f := range plain {
		rest, err := f.rest(t)
		assert.Empty(t, rest, "%s: nothing the application did not publish, nothing after the loss", name)
		assert.Equal(t, websocket.StatusCode(fanout.StatusResync), websocket.CloseStatus(err), "%s: %v", name, err)
		var ce websocket.CloseError
		if assert.ErrorAs(t, err, &ce, name) {
			assert.Equal(t, "fanout.resync: lost", ce.Reason, name)
		}
	}
	for range len(plain) + len(inBand) {
		rs := recv(t, e.resyncs, "OnResync")
		assert.ErrorIs(t, rs.err, fanout.ErrUnknownID)
	}
}

// TestHub_PlainResyncAfterQueued: the messages queued before the resync
// signal reach a plain client, in order, in the batch that holds the
// signal too; what was queued after it does not; then the close.
func TestHub_PlainResyncAfterQueued(t *testing.T) {
	t.Parallel()
	eng := &faultyEngine{Engine: fanout.NewLocalEngine(fanout.NewRing(nil))}
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{Engine: eng, OnConnect: onConnect, PingInterval: -1})
	st := stallOne(t, s, subs, "topic=t") // its writer holds message 0
	for _, m := range []string{"1", "2"} {
		require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte(m))))
	}
	eng.reborn(0)
	require.NoError(t, s.hub.Publish(context.Background(), "t", fanout.NewMessage([]byte("3")))) // after the signal
	st.release()

	err := st.col.closeErr(t)
	assert.Equal(t, []string{"0", "1", "2"}, texts(st.col.snapshot()))
	assert.Equal(t, websocket.StatusCode(fanout.StatusResync), websocket.CloseStatus(err), "%v", err)
}
