package fanout

import (
	"errors"
	"log/slog"
	"net/http"
)

// authorize returns the topics a request's subscriber joins: those the
// Authorize hook returns, or else those of its "topic" query parameters.
func authorize(r *http.Request, hook func(*http.Request) ([]string, error), log *slog.Logger) ([]string, error) {
	var topics []string
	if hook != nil {
		var err error
		if topics, err = hook(r); err != nil {
			if !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrInvalidTopic) {
				log.Warn("fanout: authorize", "err", err)
			}
			return nil, err
		}
	} else {
		topics = r.URL.Query()["topic"]
	}
	if err := checkTopics(topics); err != nil {
		return nil, err
	}
	return topics, nil
}

// refuse answers a request that authorize refused: 401, 403, 400 or 500.
func refuse(w http.ResponseWriter, err error) {
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

// unavailable answers a request that arrives while closing.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "fanout: shutting down", http.StatusServiceUnavailable)
}

// canFlush reports whether w, or a ResponseWriter it wraps (found through
// Unwrap, as http.ResponseController does), can flush. It asks without
// flushing, so a writer that cannot stream still gets a proper error.
func canFlush(w http.ResponseWriter) bool {
	return unwraps(w, func(w http.ResponseWriter) bool {
		switch w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		}
		return false
	})
}

// canHijack reports whether w, or a ResponseWriter it wraps, can hijack
// its connection.
func canHijack(w http.ResponseWriter) bool {
	return unwraps(w, func(w http.ResponseWriter) bool {
		_, ok := w.(http.Hijacker)
		return ok
	})
}

// unwraps reports whether can holds for w or a ResponseWriter it wraps.
func unwraps(w http.ResponseWriter, can func(http.ResponseWriter) bool) bool {
	for {
		if can(w) {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}
