package fanout

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
)

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
	refuseClosing(w)
}

// refuseClosing answers 503 to a request that arrives while closing.
func refuseClosing(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "fanout: shutting down", http.StatusServiceUnavailable)
}
