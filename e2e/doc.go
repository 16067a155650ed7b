// Package e2e drives the chat demo (examples/chat/room) in headless
// Chromium: the page's WebSocket and EventSource against the library,
// including reconnection with replay, the resync signal, packed frames read
// by the documented JavaScript helper, and the Hub's origin check.
//
// It is a module of its own, so that the library's go.mod does not depend
// on a browser driver. It needs Debian's chromium (or $FANOUT_CHROMIUM);
// without it the tests skip, except under CI (CI set), where they fail.
//
//	cd e2e && go test ./...
package e2e
