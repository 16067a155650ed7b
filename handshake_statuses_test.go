package fanout_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_HandshakeStatuses pins the statuses Hub.ServeHTTP's documentation
// (and docs/authorization.md) lists for a bad handshake (those websocket.Accept answers), after the
// Hub's own checks; the others have tests of their own (501:
// TestHub_BehindMiddleware, 503: TestHub_AfterShutdown, 400/401/403/500:
// TestHub_AuthorizeRefusals, 403 cross-origin: TestHub_Origin). None of
// them subscribes anything.
func TestHub_HandshakeStatuses(t *testing.T) {
	t.Parallel()
	s := newServer(t, &fanout.HubOptions{PingInterval: -1})
	upgrade := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	with := func(k, v string) http.Header {
		h := upgrade.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		status int
	}{
		{"not an upgrade", http.MethodGet, http.Header{}, http.StatusUpgradeRequired},
		{"upgrade to something else", http.MethodGet, with("Upgrade", "h2c"), http.StatusUpgradeRequired},
		{"not a GET", http.MethodPost, upgrade, http.StatusMethodNotAllowed},
		{"bad version", http.MethodGet, with("Sec-Websocket-Version", "8"), http.StatusBadRequest},
		{"no key", http.MethodGet, with("Sec-Websocket-Key", ""), http.StatusBadRequest},
		{"bad key", http.MethodGet, with("Sec-Websocket-Key", "short"), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.srv.URL+"/?topic=t", strings.NewReader(""))
			require.NoError(t, err)
			req.Header = tc.header
			resp, err := s.srv.Client().Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
	assert.Zero(t, s.hub.Stats().Subscribers)
}
