package fanout

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
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
