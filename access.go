package fanout

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Grant is what an Authorize hook allows a request: the topics its
// subscriber joins, and what the application knows of it.
type Grant struct {
	// Topics are the topics the subscriber joins. With none, it receives
	// broadcasts (and Send) only.
	Topics []string

	// Identity is the application's value for the subscriber (a user ID,
	// verified claims, a session): any type. Every hook, filter and Send
	// path reads it back with Subscriber.Identity or IdentityOf, so no side
	// map keyed by Subscriber.ID is needed.
	Identity any

	// Group names who the subscriber belongs to (a user ID, a tenant), for
	// Limits.MaxPerGroup and for presence (Member.Group, across nodes too).
	// "" counts in no group.
	Group string
}

// IdentityOf returns s's Identity (see Grant) as a T, and whether it is
// one.
//
//	user, ok := fanout.IdentityOf[*User](s)
func IdentityOf[T any](s *Subscriber) (T, bool) {
	v, ok := s.identity.(T)
	return v, ok
}

// authorize returns what a request is granted: what the Authorize hook
// returns, or else the topics of its "topic" query parameters. A request
// whose query cannot be parsed (a malformed escape, or more parameters
// than net/url parses) is refused with 400 first, Authorize or not: the
// hook would likely read it with URL.Query, which drops what it cannot
// parse, and grant what the client did not ask for (no topic at all).
func authorize(r *http.Request, hook func(*http.Request) (Grant, error), log *slog.Logger) (Grant, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Grant{}, &Refusal{Status: http.StatusBadRequest, Body: "fanout: malformed query: " + err.Error(), Err: err}
	}
	var g Grant
	if hook != nil {
		var err error
		if g, err = hook(r); err != nil {
			var ref *Refusal
			if !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrForbidden) &&
				!errors.Is(err, ErrInvalidTopic) && !errors.As(err, &ref) {
				log.Warn("fanout: authorize", "err", err)
			}
			return Grant{}, err
		}
	} else {
		g.Topics = q["topic"]
	}
	if err := checkTopics(g.Topics); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// refuse answers a request that was refused with err: a Refusal's own
// status, 401 for ErrUnauthorized, 403 for ErrForbidden, 400 for
// ErrInvalidTopic, 500 for anything else.
func refuse(w http.ResponseWriter, err error) {
	var ref *Refusal
	if errors.As(err, &ref) {
		for k, vs := range ref.Header {
			w.Header()[k] = append(w.Header()[k], vs...)
		}
		code := ref.status()
		if code == http.StatusNoContent || code == http.StatusNotModified || code < 200 {
			w.WriteHeader(code) // no body allowed
			return
		}
		body := ref.Body
		if body == "" {
			body = http.StatusText(code)
		}
		http.Error(w, body, code)
		return
	}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnauthorized):
		code = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, ErrInvalidTopic):
		code = http.StatusBadRequest
	}
	http.Error(w, http.StatusText(code), code)
}

// refuseSubscribe answers a request whose subscription failed: as the
// Refusal says (a limit), or 503.
func refuseSubscribe(w http.ResponseWriter, err error) {
	var ref *Refusal
	if errors.As(err, &ref) {
		refuse(w, ref)
		return
	}
	unavailable(w)
}

// unavailable answers a request that arrives while closing.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "fanout: shutting down", http.StatusServiceUnavailable)
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

// admit checks the subscriber limits for one more subscriber of group;
// c.mu must be held.
func (c *core) admit(group string) error {
	l := &c.limits
	if l.MaxSubscribers > 0 && len(c.conns) >= l.MaxSubscribers {
		return c.overLimit(http.StatusServiceUnavailable, fmt.Errorf("%w: %d subscribers", ErrTooManySubscribers, l.MaxSubscribers))
	}
	if l.MaxPerGroup > 0 && group != "" && c.groups[group] >= l.MaxPerGroup {
		return c.overLimit(http.StatusTooManyRequests, fmt.Errorf("%w: %d subscribers in group %q", ErrTooManySubscribers, l.MaxPerGroup, group))
	}
	return nil
}

func (c *core) overLimit(status int, err error) error {
	secs := int((c.limits.RetryAfter + time.Second - 1) / time.Second)
	return &Refusal{Status: status, Err: err, Body: err.Error(),
		Header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}
