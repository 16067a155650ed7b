package client

import (
	"context"
	"time"
)

// NewWithWait is New with wait in place of sleeping between attempts, so
// that a test sees each backoff delay and decides when the wait ends.
func NewWithWait(rawURL string, opts *Options, wait func(ctx context.Context, d time.Duration) error) (*Client, error) {
	c, err := newClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	c.wait = wait
	c.start()
	return c, nil
}

// RetryAfter parses a Retry-After header's value, relative to now.
var RetryAfter = retryAfter
