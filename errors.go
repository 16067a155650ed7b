package fanout

import "errors"

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
