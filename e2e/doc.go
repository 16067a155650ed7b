// Package e2e drives the chat demo (examples/chat/room) in headless
// Chromium: the page's WebSocket and EventSource, read by the JavaScript
// client (js/), against the library, including reconnection with replay
// (by the browser's EventSource, and by the client when the EventSource
// gives up), the resync signal, packed frames, CloseWith stopping the
// client, the Hub's origin check, and compressed frames
// (permessage-deflate). It also runs Node's ws client (testdata/node,
// installed by the test with npm ci) against a Hub that compresses.
//
// It is a module of its own, so that the library's go.mod does not depend
// on a browser driver. It needs Debian's chromium (or $FANOUT_CHROMIUM), and
// node and npm; without them the tests that need them skip, except under
// CI (CI set), where they fail.
//
//	cd e2e && go test ./...
package e2e
