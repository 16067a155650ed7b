// Package e2e drives the chat demo (examples/chat/room) in headless
// Chromium: the page's WebSocket and EventSource, read by the JavaScript
// client (js/), against the library, including reconnection with replay
// (by the browser's EventSource, and by the client when the EventSource
// gives up), the resync signal, packed frames, CloseWith stopping the
// client, the Hub's origin check, and compressed frames
// (permessage-deflate). It also runs Node's ws client (testdata/node,
// installed by the test with npm ci) against a Hub that compresses.
//
// On a Redis Cluster of three masters (started by the test) with two nodes
// of the Redis engine, a client of topics in different partitions is cut
// mid-stream and resumes on the other node with every message once and
// no resync: the Go client (WebSocket, SSE), the JavaScript client in
// Node.js and in Chromium, and Chromium's own EventSource.
//
// It is a module of its own, so that the library's go.mod does not depend
// on a browser driver. It needs Debian's chromium (or $FANOUT_CHROMIUM),
// node and npm, and redis-server and redis-cli; without them the tests
// that need them skip, except under CI (CI set), where they fail.
//
//	cd e2e && go test ./...
package e2e
