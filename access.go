package fanout

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
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
