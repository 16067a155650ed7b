package fanout_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestForgetRequest hands the connect hooks the request and forgets it
// once they return, on both transports, while delivery goes on; without
// the option the request stays.
func TestForgetRequest(t *testing.T) {
	t.Parallel()
	type seen struct {
		sub  *fanout.Subscriber
		name string // from Request() inside OnConnect
	}
	hook := func(ch chan seen) func(*fanout.Subscriber) {
		return func(s *fanout.Subscriber) {
			ch <- seen{s, s.Request().URL.Query().Get("name")}
		}
	}
	for _, forget := range []bool{true, false} {
		hubSeen, brokerSeen := make(chan seen, 1), make(chan seen, 1)
		s := newServer(t, &fanout.HubOptions{OnConnect: hook(hubSeen), ForgetRequest: forget, PingInterval: -1})
		c := collectCoder(t, dialCoder(t, s.url("topic=x&name=ws"), nil))
		ws := recv(t, hubSeen, "websocket subscriber")
		assert.Equal(t, "ws", ws.name, "OnConnect sees the request")

		b := newSSEServer(t, &fanout.BrokerOptions{OnConnect: hook(brokerSeen), ForgetRequest: forget})
		st := sseOpen(t, b.url("topic=x&name=sse"), nil)
		ev := recv(t, brokerSeen, "sse subscriber")
		assert.Equal(t, "sse", ev.name, "OnConnect sees the request")

		for _, sub := range []*fanout.Subscriber{ws.sub, ev.sub} {
			if forget {
				eventually(t, func() bool { return sub.Request() == nil }, waitTimeout, "%s request forgotten", sub.Transport())
			} else {
				require.NotNil(t, sub.Request())
				assert.Equal(t, http.MethodGet, sub.Request().Method)
			}
		}
		require.NoError(t, s.hub.Publish(t.Context(), "x", num(1)))
		require.NoError(t, b.broker.Publish(t.Context(), "x", num(1)))
		assert.Equal(t, []string{"1"}, texts(c.waitN(t, 1)))
		assert.Equal(t, "1", st.waitN(t, 1)[0].Data)
	}
}
