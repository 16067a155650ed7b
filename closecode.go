package fanout

// StatusCode is the code with which a subscription ends, whatever its
// transport: a WebSocket client gets it in the close frame (RFC 6455,
// section 7.4), an SSE client as the first word of a CloseEvent's data
// (Subscriber.CloseWith) — SSE has no close frame of its own. Its values
// are those of RFC 6455 and of the IANA registry, so a WebSocket client
// (coder/websocket's CloseError.Code, a browser's CloseEvent.code) reads
// the same number; 4000 to 4999 are the application's own.
//
// The type is the package's own rather than coder/websocket's, because
// the API that takes it serves SSE subscribers as well: only the
// WebSocket side converts it.
type StatusCode int

// The close codes the package sends, or that an application may choose
// for Subscriber.CloseWith (as may any code of 4000 to 4999).
const (
	// StatusNormalClosure ends a subscription the server or the
	// application ended without saying why (Subscriber.Close).
	StatusNormalClosure StatusCode = 1000

	// StatusGoingAway ends each subscription when the Hub shuts down.
	StatusGoingAway StatusCode = 1001

	// StatusInvalidFramePayloadData ends a WebSocket client that sent a
	// text message that is not valid UTF-8.
	StatusInvalidFramePayloadData StatusCode = 1007

	// StatusPolicyViolation ends a WebSocket client that sent messages
	// faster than Limits.MessageRate allows. The clients of this module
	// do not reconnect after it: an application may choose it
	// (CloseWith) for a client that must not come back.
	StatusPolicyViolation StatusCode = 1008

	// StatusMessageTooBig ends a WebSocket client that sent a message
	// larger than HubOptions.ReadLimit.
	StatusMessageTooBig StatusCode = 1009

	// StatusInternalError ends a subscriber whose hook (OnMessage,
	// OnDisconnect, an OnSlow called from its writer) panicked.
	StatusInternalError StatusCode = 1011

	// StatusTryAgainLater ends a slow subscriber (PolicyClose): it may
	// reconnect, and resume where it can.
	StatusTryAgainLater StatusCode = 1013
)
