package fanout

import (
	"fmt"
	"log/slog"
	"net/http"
)

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

// refuseUnservable answers a request that cannot be served on w, because
// the connection can be neither taken over nor (for the Broker) flushed,
// with status and why in the body: the developer who put middleware in
// front of the handler sees the reason in the response, not only in a
// log. It logs why at Warn through log, or slog's default logger when the
// application gave none (given: DeliveryOptions.Logger as set), so that
// the cause is never silent.
func refuseUnservable(w http.ResponseWriter, r *http.Request, given *slog.Logger, status int, why string) {
	log := given
	if log == nil {
		log = slog.Default()
	}
	log.Warn(why, "writer", fmt.Sprintf("%T", w), "remote", r.RemoteAddr)
	http.Error(w, why, status)
}

// cannotTakeOver says why the Hub cannot take w's connection over.
func cannotTakeOver(w http.ResponseWriter, r *http.Request) string {
	if r.ProtoMajor >= 2 {
		return fmt.Sprintf("fanout: cannot take over the connection: the request came over HTTP/%d, and WebSocket is served over HTTP/1.1 only", r.ProtoMajor)
	}
	return fmt.Sprintf("fanout: cannot take over the connection: the ResponseWriter (type %T) has neither Hijack nor Unwrap", w)
}

// cannotStream says why the Broker can neither flush w nor take its
// connection over (hijack: whether taking over was an option).
func cannotStream(w http.ResponseWriter, hijack bool) string {
	if hijack {
		return fmt.Sprintf("fanout: cannot stream: the ResponseWriter (type %T) has neither Flush, Hijack nor Unwrap", w)
	}
	return fmt.Sprintf("fanout: cannot stream: the ResponseWriter (type %T) has neither Flush nor Unwrap", w)
}
