package fanout

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"
)

// TestAcceptRefuses_AgreesWithCoder: acceptRefuses, which the Hub runs
// before any engine work, refuses exactly the handshakes that
// websocket.Accept refuses, and refuseHandshake answers them as Accept
// does. Accept is run on a ResponseRecorder, which cannot hijack: a
// handshake it accepts gets 501 from it, one it refuses gets its own
// status. A coder/websocket release that checks differently fails here.
func TestAcceptRefuses_AgreesWithCoder(t *testing.T) {
	prev := log.Writer()
	log.SetOutput(io.Discard) // Accept logs a bad origin pattern
	t.Cleanup(func() { log.SetOutput(prev) })
	valid := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/?topic=t", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return r
	}
	set := func(k, v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set(k, v) }
	}
	for _, tc := range []struct {
		name   string
		change func(r *http.Request)
		opts   websocket.AcceptOptions
	}{
		{name: "valid"},
		{name: "Connection among others", change: set("Connection", "keep-alive, Upgrade")},
		{name: "Connection in two fields", change: func(r *http.Request) {
			r.Header["Connection"] = []string{"keep-alive", "upgrade"}
		}},
		{name: "Upgrade in capitals", change: set("Upgrade", "WebSocket")},
		{name: "key with spaces", change: set("Sec-WebSocket-Key", "  dGhlIHNhbXBsZSBub25jZQ==  ")},
		{name: "HTTP/1.0", change: func(r *http.Request) { r.Proto, r.ProtoMinor = "HTTP/1.0", 0 }},
		{name: "no Connection", change: func(r *http.Request) { r.Header.Del("Connection") }},
		{name: "Connection: close", change: set("Connection", "close")},
		{name: "Connection: upgrades", change: set("Connection", "upgrades")},
		{name: "no Upgrade", change: func(r *http.Request) { r.Header.Del("Upgrade") }},
		{name: "Upgrade: h2c", change: set("Upgrade", "h2c")},
		{name: "POST", change: func(r *http.Request) { r.Method = http.MethodPost }},
		{name: "HEAD", change: func(r *http.Request) { r.Method = http.MethodHead }},
		{name: "version 8", change: set("Sec-WebSocket-Version", "8")},
		{name: "version 13 with spaces", change: set("Sec-WebSocket-Version", " 13")},
		{name: "no version", change: func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") }},
		{name: "no key", change: func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }},
		{name: "two keys", change: func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") }},
		{name: "key not base64", change: set("Sec-WebSocket-Key", "not base64!")},
		{name: "key of 15 bytes", change: set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")},
		{name: "key of 17 bytes", change: set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=")},
		{name: "same origin", change: set("Origin", "http://example.com")},
		{name: "same origin, other case", change: set("Origin", "https://EXAMPLE.com")},
		{name: "cross origin", change: set("Origin", "http://evil.example")},
		{name: "cross origin, allowed", change: set("Origin", "http://app.example"),
			opts: websocket.AcceptOptions{OriginPatterns: []string{"*.example"}}},
		{name: "cross origin, not allowed", change: set("Origin", "http://app.other"),
			opts: websocket.AcceptOptions{OriginPatterns: []string{"*.example"}}},
		{name: "cross origin, scheme pattern", change: set("Origin", "https://app.example"),
			opts: websocket.AcceptOptions{OriginPatterns: []string{"https://*.example"}}},
		{name: "cross origin, other scheme", change: set("Origin", "http://app.example"),
			opts: websocket.AcceptOptions{OriginPatterns: []string{"https://*.example"}}},
		{name: "bad pattern", change: set("Origin", "http://app.example"),
			opts: websocket.AcceptOptions{OriginPatterns: []string{"[", "*.example"}}},
		{name: "InsecureSkipVerify", change: set("Origin", "http://evil.example"),
			opts: websocket.AcceptOptions{InsecureSkipVerify: true}},
		{name: "malformed origin", change: set("Origin", "http://[::1")},
		{name: "origin null", change: set("Origin", "null")},
		{name: "origin without host", change: set("Origin", "file:///etc")},
		{name: "malformed origin, InsecureSkipVerify", change: set("Origin", "http://[::1"),
			opts: websocket.AcceptOptions{InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			if tc.change != nil {
				tc.change(r)
			}
			rec := httptest.NewRecorder()
			_, err := websocket.Accept(rec, r, &tc.opts)
			if err == nil {
				t.Fatal("Accept took a ResponseRecorder over")
			}
			coderRefuses := rec.Code != http.StatusNotImplemented
			if got := acceptRefuses(r, &tc.opts); got != coderRefuses {
				t.Fatalf("acceptRefuses = %v, websocket.Accept refuses: %v (%d %q)", got, coderRefuses, rec.Code, rec.Body)
			}
			if !coderRefuses {
				return
			}
			ours := httptest.NewRecorder()
			if refuseHandshake(ours, r, &tc.opts) == nil {
				t.Fatal("refuseHandshake: no error")
			}
			if ours.Code != rec.Code || ours.Body.String() != rec.Body.String() {
				t.Fatalf("refuseHandshake answered %d %q, Accept %d %q", ours.Code, ours.Body, rec.Code, rec.Body)
			}
		})
	}
}
