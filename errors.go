package fanout

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Functions wrap them with %w; test with errors.Is.
var (
	// ErrClosed is returned by Publish, Broadcast, Send and Register after
	// Close or Shutdown has begun; and by Publish and Broadcast once the
	// Hub's (or Broker's) ReplayStore was given to another (see
	// HubOptions.Replay).
	ErrClosed = errors.New("fanout: closed")

	// ErrNotSubscribed is returned by Subscriber methods once the subscriber
	// has been removed or closed (by a slow-client policy, by its client
	// going away, or by the application).
	ErrNotSubscribed = errors.New("fanout: subscriber is gone")

	// ErrQueueFull is returned by Subscriber.Send when the subscriber's queue
	// was full and the message was not queued. The slow-client policy has
	// been applied by the time Send returns.
	ErrQueueFull = errors.New("fanout: subscriber queue full")

	// ErrInvalidTopic is returned for an empty topic name.
	ErrInvalidTopic = errors.New("fanout: invalid topic")

	// ErrUnauthorized, returned (or wrapped) by an Authorize hook, refuses a
	// connection with 401 Unauthorized.
	ErrUnauthorized = errors.New("fanout: unauthorized")

	// ErrForbidden, returned (or wrapped) by an Authorize hook, refuses a
	// connection with 403 Forbidden. Any other non-nil error from the hook
	// refuses it with 500 Internal Server Error.
	ErrForbidden = errors.New("fanout: forbidden")

	// ErrTooManySubscribers is why a subscriber over Limits.MaxSubscribers
	// or Limits.MaxPerGroup is refused (wrapped in a Refusal: 503 or 429),
	// and what Register returns then.
	ErrTooManySubscribers = errors.New("fanout: too many subscribers")

	// ErrTooManyTopics is why a subscriber over Limits.MaxTopics is
	// refused (wrapped in a Refusal: 400), and what Subscriber.Subscribe
	// and Register return (wrapped) then.
	ErrTooManyTopics = errors.New("fanout: too many topics")

	// ErrRateLimited is why a client that sent messages faster than
	// Limits.MessageRate was closed (RateClose), as OnDisconnect reports.
	ErrRateLimited = errors.New("fanout: message rate exceeded")

	// ErrInvalidMessage is returned by Publish, Broadcast and Send for a
	// message that cannot be sent intact: a Text message whose data is
	// not valid UTF-8, or an ID or event type that is not UTF-8 or holds a
	// line break (or, for an ID, NUL). A Hub's OnDisconnect also receives
	// it (wrapped) for a client closed with status 1007 for sending a text
	// message that is not valid UTF-8.
	ErrInvalidMessage = errors.New("fanout: invalid message")

	// ErrUnknownID is returned (wrapped) by an Engine's or ReplayStore's
	// Read, and by ParseID, when the position to resume from was never
	// assigned, is of another epoch, or what followed it was evicted.
	// Subscribers then receive a resync signal (see ResyncEvent).
	ErrUnknownID = errors.New("fanout: unknown or evicted last-event ID")

	// ErrTooLarge is returned (wrapped) by Publish, Broadcast,
	// BroadcastFilter and Send for a message whose data is larger than
	// Limits.MaxMessageSize: nothing was stored or queued.
	ErrTooLarge = errors.New("fanout: message too large")

	// ErrBadPacked is returned by Unpack for a frame that does not follow
	// the packed framing.
	ErrBadPacked = errors.New("fanout: malformed packed frame")
)

// Refusal is an error that refuses a request with the status, headers and
// body of the caller's choice. An Authorize hook returns one (or wraps
// one) to answer, say, 429 Too Many Requests with a Retry-After header;
// the Hub and the Broker answer the same way.
//
// To tell an EventSource not to reconnect, refuse its next request with
// http.StatusNoContent: the SSE specification makes a browser stop there.
type Refusal struct {
	Status int         // the HTTP status; 0 means 403 Forbidden
	Header http.Header // added to the response (Retry-After, WWW-Authenticate)
	Body   string      // a short text body; "" means the status text
	Err    error       // the cause, for errors.Is and logs; may be nil
}

func (r *Refusal) Error() string {
	msg := fmt.Sprintf("fanout: refused with %d", r.status())
	if r.Err != nil {
		msg += ": " + r.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (r *Refusal) Unwrap() error { return r.Err }

func (r *Refusal) status() int {
	if r.Status == 0 {
		return http.StatusForbidden
	}
	return r.Status
}

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

// StatusResync is the close status with which a plain WebSocket client
// (one without a resume or packed subprotocol: its frames carry the
// application's messages and nothing else) receives the resync signal. A
// resync written as a frame of its own would be taken for a message, so
// the client gets everything queued before the signal, then a close with
// this status and the reason "fanout.resync: " followed by the signal's
// data ("fanout.resync: lost"; see ResyncReason.String), and nothing
// after: it reconnects (a browser's WebSocket tells the status in
// CloseEvent.code) knowing that it lost messages, and reloads its state.
// OnResync is called as for any resync; OnDisconnect gets a nil error.
//
// A plain client cannot resume (the Hub ignores lastEventId without a
// resume subprotocol), so its only resync is the one a streaming
// subscriber gets when the engine lost messages (ResyncLost).
//
// It is 1012 (service restart): the stream restarts, and the client
// should come back. The JavaScript and Go clients of this module
// reconnect on it, as on any status outside 1008 and 4000 to 4999, the
// range that stays the application's own (Subscriber.CloseWith).
const StatusResync StatusCode = 1012
