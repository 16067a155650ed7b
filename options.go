package fanout

import (
	"fmt"
	"log/slog"
	"time"
)

// DeliveryOptions configures each subscriber's queue and coalescing writer.
// Hub and Broker share it. The zero value is a good default for each field.
type DeliveryOptions struct {
	// QueueSize bounds each subscriber's queue in messages. A message that
	// arrives when it is full makes the subscriber slow (see Policy).
	//
	// The bound is what a burst may reach: publishing never waits for a
	// writer, so a burst published back to back queues whole before the
	// subscriber's writer is even scheduled, and a client that reads as
	// fast as it can survives any burst that fits (QueueSize messages,
	// QueueBytes bytes). A client that does not read is found slow once
	// its queue is full on top of what the kernel's socket buffers took,
	// or once one batch write has been blocked for WriteTimeout, whichever
	// comes first. An idle subscriber keeps no more than 256 queue slots
	// (2 KiB) whatever the bound: a larger queue is freed once drained.
	// Defaults to 4096.
	QueueSize int

	// QueueBytes bounds each subscriber's queue in payload bytes. A
	// message larger than QueueBytes is not counted against it: it is
	// queued behind smaller ones, and they queue behind it, so one large
	// message never makes a reading subscriber slow. Only one such message
	// may wait at a time: a second one that arrives before the writer took
	// the first finds the queue full. A queue therefore pins at most
	// QueueBytes plus one larger message (and, for a resuming subscriber,
	// one page of its history: see MaxBatch). Defaults to 4 MiB.
	QueueBytes int

	// MaxBatch bounds how many queued messages one socket write carries.
	// 1 disables coalescing (one write per message). A writer's scratch
	// space grows with its largest batch and is kept, so this also bounds
	// a busy subscriber's memory. A resuming subscriber's history is read
	// in pages of four batches (4 × MaxBatch messages and 4 ×
	// MaxBatchBytes bytes, within QueueSize and QueueBytes), the next once
	// its writer has taken the previous one: the most of its history it
	// holds at a time. Defaults to 64.
	MaxBatch int

	// MaxBatchBytes bounds the payload bytes of one socket write; a single
	// larger message still goes out alone. Defaults to 256 KiB.
	MaxBatchBytes int

	// FlushDelay, when positive, makes a writer that wakes for new messages
	// wait this long before writing, so more messages join the batch. It
	// trades latency for fewer writes. Defaults to 0: a lone message on an
	// idle writer goes out at once.
	FlushDelay time.Duration

	// WriteTimeout bounds each batch write. A write that takes longer makes
	// the subscriber slow (SlowWriteTimeout). Defaults to 10s; negative
	// means no timeout.
	WriteTimeout time.Duration

	// Policy is applied to slow subscribers. The zero value is PolicyClose.
	Policy Policy

	// OnSlow, if set, is called for each slow-subscriber event and returns
	// the policy to apply to that subscriber (ev.Policy keeps the configured
	// one). It runs on the goroutine that found the subscriber slow (a
	// publisher for SlowQueueFull, the subscriber's writer for
	// SlowWriteTimeout), so it must return quickly and must not publish or
	// close the Hub (it may close or remove the subscriber).
	OnSlow func(ev SlowEvent) Policy

	// Observer, if set, is told of each batch write, slow-subscriber
	// event and resync, for metrics beyond Stats (see Observer; package
	// github.com/fanout-go/fanout/prometheus has one for Prometheus). It
	// must be set here, before NewHub (or NewBroker): the options are
	// copied. Defaults to none, which costs nothing: publishing never
	// looks at it, and a writer checks it once per batch.
	Observer Observer

	// Logger receives connection-level errors at Debug level and unexpected
	// ones at Warn. Defaults to no logging, but for one mistake of
	// configuration that the server must hear of: a handler whose
	// connection can be neither taken over nor streamed through its
	// middleware (501 from the Hub, 500 from the Broker) logs why through
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults fills in defaults. It is idempotent: a negative
// WriteTimeout stays negative, and writers test for a positive timeout.
func (o DeliveryOptions) withDefaults() DeliveryOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueSize, 4096)
	def(&o.QueueBytes, 4<<20)
	def(&o.MaxBatch, 64)
	def(&o.MaxBatchBytes, 256<<10)
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second // negative stays: no timeout
	}
	if o.FlushDelay < 0 {
		o.FlushDelay = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Limits bound what a Hub (or Broker) admits. The zero value bounds
// the topics of one subscriber (MaxTopics: 100), a message's data
// (MaxMessageSize: 1 MiB), and nothing else.
type Limits struct {
	// MaxTopics bounds the distinct topics of one subscriber: those its
	// request (or Grant) names, and those Subscriber.Subscribe adds. A
	// request over it is refused with 400 Bad Request before any work
	// (Register and Subscribe fail with ErrTooManyTopics). Defaults to
	// 100: far more than a page follows, few enough that no request
	// costs much more than an idle subscriber (each topic costs some
	// 100 bytes, and the engine a subscription). Negative: no bound.
	MaxTopics int

	// MaxMessageSize bounds the data of one message, in bytes: Publish,
	// Broadcast, BroadcastFilter and Subscriber.Send refuse a larger one
	// with an error wrapping ErrTooLarge, before anything is stored (so
	// with every engine) or queued. The default fits what every client of
	// this module reads (the Go client's default ReadLimit, the browser's
	// WebSocket and EventSource) and keeps one message from pinning an
	// unbounded share of the Ring, the Redis stream and each subscriber's
	// queue. Defaults to 1 MiB; negative: no bound.
	MaxMessageSize int

	// MaxSubscribers bounds the subscribers of a Hub and the Brokers
	// attached to it (or of a standalone Broker). One more is refused
	// before its handshake with 503 Service Unavailable and Retry-After
	// (Register fails with ErrTooManySubscribers). 0: no bound.
	MaxSubscribers int

	// MaxPerGroup bounds the subscribers of one Grant.Group (one user's
	// tabs and devices, say). One more is refused with 429 Too Many
	// Requests and Retry-After. 0: no bound.
	MaxPerGroup int

	// RetryAfter is the Retry-After sent with those refusals. Defaults to
	// 5s.
	RetryAfter time.Duration

	// MessageRate bounds the messages per second one WebSocket client may
	// send (a token bucket, golang.org/x/time/rate), with bursts of
	// MessageBurst (defaults to MessageRate, at least 1). What happens to
	// a message over the rate is OverRate's choice. 0: no bound. It does
	// not apply to SSE clients, which send nothing.
	MessageRate  float64
	MessageBurst int

	// OverRate is what happens to a client message over MessageRate.
	OverRate RatePolicy
}

// DefaultMaxMessageSize is Limits.MaxMessageSize's default: 1 MiB.
const DefaultMaxMessageSize = 1 << 20

// RatePolicy says what happens to a client message that exceeds
// Limits.MessageRate.
type RatePolicy uint8

const (
	// RateDrop drops the message (OnMessage does not see it) and counts
	// it in Stats.InboundDropped; the connection stays. The zero value.
	RateDrop RatePolicy = iota
	// RateClose closes the connection with status 1008 (policy
	// violation).
	RateClose
)

// String returns the policy's name.
func (p RatePolicy) String() string {
	switch p {
	case RateDrop:
		return "drop"
	case RateClose:
		return "close"
	}
	return fmt.Sprintf("RatePolicy(%d)", uint8(p))
}

func (l Limits) withDefaults() Limits {
	if l.MaxTopics == 0 {
		l.MaxTopics = defaultMaxTopics
	}
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.RetryAfter <= 0 {
		l.RetryAfter = 5 * time.Second
	}
	if l.MessageRate > 0 && l.MessageBurst <= 0 {
		l.MessageBurst = max(1, int(l.MessageRate))
	}
	return l
}

// defaultMaxTopics is Limits.MaxTopics's default.
const defaultMaxTopics = 100
