// Package js is fanout's JavaScript client, the npm package
// @fanout-go/client (the ES module fanout.js beside this file), for Go
// servers that serve it to their pages themselves, with no npm step:
//
//	mux.Handle("GET /fanout.js", js.Handler())
//
// and in the page:
//
//	<script type="module">
//	  import { subscribe } from "/fanout.js";
//	  const sub = subscribe("/ws?topic=room", { transport: "websocket" });
//	  sub.on("message", (m) => show(m.data));
//	</script>
//
// The chat demo (examples/chat) serves it so. See docs/clients.md, "The
// JavaScript client", for its API.
package js

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Source is fanout.js, the module npm ships.
//
//go:embed fanout.js
var Source string

// etag names Source's content, so that a browser revalidates its copy
// with a 304 instead of downloading it again.
var etag = func() string {
	sum := sha256.Sum256([]byte(Source))
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// Handler serves Source as text/javascript, to GET and HEAD, with an ETag
// and Cache-Control: no-cache (a browser asks each time and gets 304 while
// it is unchanged).
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "fanout.js", time.Time{}, strings.NewReader(Source))
	})
}
