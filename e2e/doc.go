// Package e2e drives the chat demo (examples/chat/room) in headless
// Chromium: the page's WebSocket and EventSource against the library,
// including reconnection with replay, the resync signal, packed frames read
// by the documented JavaScript helper, the Hub's origin check, and
// compressed frames (permessage-deflate). It also runs Node's ws client
// (testdata/node, installed by the test with npm ci) against a Hub that
// compresses.
//
// It is a module of its own, so that the library's go.mod does not depend
// on a browser driver. It needs Debian's chromium (or $FANOUT_CHROMIUM), and
// node and npm; without them the tests that need them skip, except under
// CI (CI set), where they fail.
//
//	cd e2e && go test ./...
package e2e
