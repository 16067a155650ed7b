package fanout

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/coder/websocket"
)

// The Hub subscribes a client (and reads what it missed) before
// websocket.Accept answers its handshake, so that nothing published
// meanwhile is lost. A request that Accept would refuse must cost nothing
// first: acceptRefuses runs the checks by which Accept refuses a request,
// before any engine work.
//
// acceptRefuses mirrors coder/websocket v1.8.15 (accept.go:
// verifyClientRequest and authenticateOrigin), check for check. It is
// tested against Accept itself on a table of handshakes
// (TestAcceptRefuses_AgreesWithCoder), so a coder/websocket release that
// checks differently fails that test. The refusal itself is Accept's own
// (refuseHandshake): its statuses, headers and bodies.

// acceptRefuses reports whether websocket.Accept with opts would refuse r
// before taking its connection over.
func acceptRefuses(r *http.Request, opts *websocket.AcceptOptions) bool {
	if !r.ProtoAtLeast(1, 1) ||
		!headerHasToken(r.Header, "Connection", "Upgrade") ||
		!headerHasToken(r.Header, "Upgrade", "websocket") ||
		r.Method != http.MethodGet ||
		r.Header.Get("Sec-WebSocket-Version") != "13" {
		return true
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return true
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return true
	}
	return !opts.InsecureSkipVerify && !originAllowed(r, opts.OriginPatterns)
}

// originAllowed reports whether r's Origin is allowed: none, the
// request's own host, or one that matches a pattern (path.Match, ignoring
// case; against "scheme://host" for a pattern with "://"). A malformed
// Origin or pattern allows nothing.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return false
		}
		if ok {
			return true
		}
	}
	return false
}

// headerHasToken reports whether a comma-separated value of header key
// is token, ignoring case and surrounding space.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// refuseHandshake answers a request that acceptRefuses refused, as
// websocket.Accept answers it: Accept is handed a ResponseWriter that
// cannot take the connection over, so that, were it to accept what
// acceptRefuses refused, it would answer 501 rather than upgrade a client
// that is subscribed to nothing.
func refuseHandshake(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) error {
	conn, err := websocket.Accept(noHijack{w}, r, opts)
	if conn != nil { // cannot be: it has no connection to take
		_ = conn.CloseNow()
	}
	return err
}

// noHijack hides every method of the ResponseWriter it wraps but those of
// http.ResponseWriter (Hijack, Unwrap).
type noHijack struct{ http.ResponseWriter }

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

// hubSubprotocols returns the subprotocols a Hub offers, in the order
// coder/websocket tries them (it selects the first that the client
// offers): the resume ones first, v2 before v1, then the application's
// (user), and, with packing, the packed ones, v2 before v1, where the
// application listed either (at the end if it did not). Newer versions
// come first so that a client offering both gets the newer; a client
// offering one version alone gets that one.
func hubSubprotocols(user []string, packing bool) []string {
	is := func(names ...string) func(string) bool {
		return func(p string) bool {
			return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(p, n) })
		}
	}
	out := []string{ResumeSubprotocolV2, ResumeSubprotocol}
	user = slices.DeleteFunc(slices.Clone(user), is(ResumeSubprotocolV2, ResumeSubprotocol))
	if !packing {
		return append(out, user...)
	}
	packed := is(PackedSubprotocolV2, PackedSubprotocol)
	at := slices.IndexFunc(user, packed)
	if at < 0 {
		at = len(user)
	}
	rest := slices.DeleteFunc(slices.Clone(user[at:]), packed)
	out = append(out, user[:at]...)
	out = append(out, PackedSubprotocolV2, PackedSubprotocol)
	return append(out, rest...)
}

// offers reports whether the client offers WebSocket subprotocol p,
// ignoring case, as coder/websocket compares them when it selects one.
func offers(r *http.Request, p string) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), p) {
				return true
			}
		}
	}
	return false
}
