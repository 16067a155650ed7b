// Package e2e drives the chat demo (examples/chat/room) in headless
// Chromium: the page's WebSocket and EventSource, read by the JavaScript
// client (js/), against the library, including reconnection with replay
// (by the browser's EventSource, and by the client when the EventSource
// gives up), the resync signal, packed frames, CloseWith stopping the
// client, and the Hub's origin check.
//
// It is a module of its own, so that the library's go.mod does not depend
// on a browser driver. It needs Debian's chromium (or $FANOUT_CHROMIUM);
// without it the tests skip, except under CI (CI set), where they fail.
//
//	cd e2e && go test ./...
package e2e
