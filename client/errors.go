package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Sentinel errors. Next wraps them with %w; test with errors.Is.
var (
	// ErrClosed is what Next returns once Close has been called.
	ErrClosed = errors.New("fanout/client: closed")

	// ErrProtocol is why a client stops when the server does not speak
	// fanout's protocols: a malformed packed frame, an SSE response that is
	// not text/event-stream, a fanout.close event it cannot read, a
	// WebSocket handshake that failed after 101. Reconnecting to such a
	// server would fail the same way, so the client does not.
	ErrProtocol = errors.New("fanout/client: protocol error")

	// ErrIdle is why the client gave up a connection on which the server
	// had been silent for Options.IdleTimeout: no message, no ping, no
	// heartbeat (a dead peer or path, or a server that hangs). OnRetry
	// receives it: the client reconnects and resumes.
	ErrIdle = errors.New("fanout/client: the server was silent")

	// ErrTooLarge is why a client stops when a WebSocket frame (a packed
	// frame holds a whole batch) or an SSE event is larger than
	// Options.ReadLimit. Reconnecting would meet the same message again.
	ErrTooLarge = errors.New("fanout/client: message larger than ReadLimit")
)

// StatusError is the error of a connection attempt that the server
// answered with an HTTP status instead of a WebSocket upgrade or an event
// stream: 401, 403, 404, 204, 429, 503, ... Whether the client tries again
// depends on the status (see the package documentation, "Reconnecting").
type StatusError struct {
	URL        string        // the URL requested
	StatusCode int           // the response's status
	RetryAfter time.Duration // from the Retry-After header; 0 without one
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("fanout/client: GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// statusError returns the StatusError of resp, an answer to a request for
// u.
func statusError(u string, resp *http.Response, now time.Time) *StatusError {
	return &StatusError{URL: u, StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
}

// maxRetryAfter caps what a Retry-After header may ask for, so that a
// broken or hostile value does not park the client for days.
const maxRetryAfter = time.Hour

// retryAfter parses a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110, section 10.2.3), relative to now. It returns 0 for a missing
// or malformed value, or a date in the past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
