package fanout

import "net/http"

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
