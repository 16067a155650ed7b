package client

import (
	"context"
	"io"
	"time"
)

// NewWithWait is New with wait in place of sleeping between attempts, so
// that a test sees each backoff delay and decides when the wait ends.
func NewWithWait(rawURL string, opts *Options, wait func(ctx context.Context, d time.Duration) error) (*Client, error) {
	return NewWithStable(rawURL, opts, wait, stableAfter)
}

// NewWithStable is NewWithWait, with a connection that delivers no
// message resetting the backoff once it lasted stable (not stableAfter).
func NewWithStable(rawURL string, opts *Options, wait func(ctx context.Context, d time.Duration) error, stable time.Duration) (*Client, error) {
	c, err := newClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	c.wait = wait
	c.stable = stable
	c.start()
	return c, nil
}

// RetryAfter parses a Retry-After header's value, relative to now.
var RetryAfter = retryAfter

// ReadEvents reads an event stream as an SSE connection does, passing
// each message, resync and position (position set, the ID in m.ID) to
// emit.
func ReadEvents(r io.Reader, limit int, emit func(m Message, position bool) error) error {
	return readEvents(r, limit, func(it item) error { return emit(it.msg, it.position) })
}
