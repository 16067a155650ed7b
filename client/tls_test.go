package client_test

import (
	"context"
	"testing"

	"github.com/fanout-go/fanout/client"
)

// TestClient_TLS: over TLS, with HTTP/2 enabled on the server, the SSE
// stream comes over HTTP/2 (the Broker writes it through the
// ResponseWriter) and the WebSocket over HTTP/1.1 (an upgrade needs it),
// through the caller's HTTPClient; both resume after a Shutdown.
func TestClient_TLS(t *testing.T) {
	for _, sse := range []bool{false, true} {
		opts := storeOptions()
		s := newTLSServer(t, opts)
		u := s.wsURL("room") // wss://
		proto := "HTTP/1.1"
		if sse {
			u, proto = s.sseURL("room"), "HTTP/2.0"
		}
		o := &client.Options{HTTPClient: s.http.Client()}
		ev := hook(o)
		r := startReader(t, dial(t, u, o))
		ev.connected(t)
		if p := <-s.protos; p != proto {
			t.Errorf("sse %v: the request came over %s, want %s", sse, p, proto)
		}
		s.publish("room", 1, 2)
		checkSequence(t, r.numbers(2), 1, 2)

		old := s.install(opts)
		s.publish("room", 3, 4)
		if err := old.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		ev.connected(t)
		s.publish("room", 5, 6)
		checkSequence(t, r.numbers(4), 3, 6)
	}
}
