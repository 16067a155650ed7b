package fanout_test

import (
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"

	"github.com/fanout-go/fanout"
)

// TestStatusCode_RFC6455: each close code of ours is the number RFC 6455
// (and coder/websocket, which a WebSocket client reads it with) gives it.
func TestStatusCode_RFC6455(t *testing.T) {
	t.Parallel()
	for ours, theirs := range map[fanout.StatusCode]websocket.StatusCode{
		fanout.StatusNormalClosure:           websocket.StatusNormalClosure,
		fanout.StatusGoingAway:               websocket.StatusGoingAway,
		fanout.StatusInvalidFramePayloadData: websocket.StatusInvalidFramePayloadData,
		fanout.StatusPolicyViolation:         websocket.StatusPolicyViolation,
		fanout.StatusMessageTooBig:           websocket.StatusMessageTooBig,
		fanout.StatusInternalError:           websocket.StatusInternalError,
		fanout.StatusResync:                  websocket.StatusServiceRestart,
		fanout.StatusTryAgainLater:           websocket.StatusTryAgainLater,
	} {
		assert.Equal(t, int(theirs), int(ours), "%v", theirs)
	}
}
