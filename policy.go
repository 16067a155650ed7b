package fanout

import (
	"errors"
	"fmt"
)

// Policy says what happens to a slow subscriber: one whose queue is full when
// a message arrives, or whose batch write did not finish within the write
// timeout. Whatever the policy, the message that found the queue full is not
// queued for that subscriber, and neither the publisher nor any other
// subscriber waits.
type Policy uint8

const (
	// PolicyClose unsubscribes the subscriber and closes its connection:
	// a WebSocket close frame with status 1013 (try again later). The client
	// learns that it fell behind and can reconnect for a fresh stream,
	// rather than silently missing messages. The zero value, and the default.
	PolicyClose Policy = iota

	// PolicyDrop drops the message for that subscriber only, counts it in
	// Stats.Dropped and the subscriber's Dropped, and keeps the subscriber.
	// The client sees a gap.
	PolicyDrop

	// PolicyRemove unsubscribes the subscriber from every topic and from
	// broadcasts but leaves its connection open: what was already queued is
	// still written, nothing more is. Useful when the application owns the
	// connection (Hub.Register) and wants to decide what to do with it.
	PolicyRemove

	// PolicyBlock makes a publisher wait for room instead of losing
	// anything: Publish, Broadcast and BroadcastFilter wait, before the
	// message is stored or delivered, until every subscriber they would
	// reach has room in its queue, and fail with the context's error (the
	// message then reaches no one, and the subscriber stays) when ctx ends
	// first. It trades isolation for completeness: a subscriber that stops
	// reading stalls every publisher to its topics (publishes to other
	// topics go on), so give Publish a context with a deadline.
	//
	// Only the queue-wide setting (DeliveryOptions.Policy) blocks. What
	// cannot wait is bounded instead, and is a slow event (OnSlow may pick
	// another policy for it; PolicyBlock there closes): a batch write over
	// WriteTimeout, or a queue at twice QueueSize (or QueueBytes), which
	// messages from other processes and Subscriber.Send can reach, closes
	// the subscriber as PolicyClose does (1013), and it can resume.
	// Subscriber.Send never waits. With a distributed engine (Redis), a
	// publish counts what has reached this node's queues: its own earlier
	// messages still on their way through the engine are not waited for,
	// so a publisher faster than that round trip can fill a queue to
	// twice QueueSize, and publishers on other nodes never wait.
	PolicyBlock
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case PolicyClose:
		return "close"
	case PolicyDrop:
		return "drop"
	case PolicyRemove:
		return "remove"
	case PolicyBlock:
		return "block"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// SlowReason says why a subscriber was found slow.
type SlowReason uint8

const (
	// SlowQueueFull: a message arrived while the subscriber's queue held
	// QueueSize messages, or it would have taken the queue past QueueBytes
	// (see DeliveryOptions.QueueBytes for messages larger than that).
	SlowQueueFull SlowReason = iota + 1
	// SlowWriteTimeout: a batch write did not finish within WriteTimeout.
	SlowWriteTimeout
)

// String returns the reason's name.
func (r SlowReason) String() string {
	switch r {
	case SlowQueueFull:
		return "queue full"
	case SlowWriteTimeout:
		return "write timeout"
	}
	return fmt.Sprintf("SlowReason(%d)", uint8(r))
}

// SlowEvent describes one slow-subscriber event, as passed to an OnSlow hook.
type SlowEvent struct {
	Subscriber *Subscriber
	Reason     SlowReason
	// Policy is the configured policy; the hook returns it to keep it.
	Policy Policy
	// QueueLen and QueueBytes are the subscriber's queue depth at the event.
	QueueLen, QueueBytes int
	// Messages is how many messages the event concerns: 1 for a full queue,
	// the unsent part of the batch for a write timeout.
	Messages int
}

// endReason says why a subscription ended; transports map it to a close
// status.
type endReason uint8

const (
	endNone     endReason = iota
	endClient             // the client went away or the connection failed
	endSlow               // PolicyClose
	endShutdown           // Hub Close or Shutdown
	endApp                // Subscriber.Close
	endDead               // no answer to keepalive pings
	endPanic              // a hook panicked while serving this subscriber
	endBadData            // the client sent a text message that is not UTF-8
	endRate               // the client sent messages faster than Limits.MessageRate
	endResync             // a plain WebSocket client's stream broke (see StatusResync)
)

// String names the reason, for logs.
func (r endReason) String() string {
	switch r {
	case endClient:
		return "client"
	case endSlow:
		return "slow"
	case endShutdown:
		return "shutdown"
	case endApp:
		return "closed by application"
	case endDead:
		return "dead peer"
	case endPanic:
		return "hook panic"
	case endRate:
		return "message rate"
	case endBadData:
		return "invalid UTF-8 from client"
	case endResync:
		return "resync"
	}
	return "none"
}

// errDeadPeer is why a sink's keepalive fails when the previous ping went
// unanswered: the subscription ends with endDead.
var errDeadPeer = errors.New("fanout: peer did not answer ping")
