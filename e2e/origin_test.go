package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// 6. A page of another origin opens a WebSocket to the Hub: the Hub's
// default origin check refuses it (403), and the browser sees the
// connection fail; a page of the demo's own origin connects (the other
// tests).
func TestBrowser_CrossOriginRefused(t *testing.T) {
	d := startDemo(t, nil)
	ctx := testContext(t)
	target := "ws" + strings.TrimPrefix(d.base, "http") + "/ws?topic=xo"
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>another origin</title><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket(%q, ["fanout.resume.v1"]);
  let opened = false;
  ws.onopen = () => { opened = true; };
  ws.onclose = (e) => resolve({ opened, code: e.code });
});
</script>`, target)
	}))
	t.Cleanup(other.Close)
	require.NotEqual(t, d.base, other.URL, "two origins")

	p := newPage(t, newBrowser(t), other.URL)
	res := eval[struct {
		Opened bool `json:"opened"`
		Code   int  `json:"code"`
	}](p, "window.result")
	assert.False(t, res.Opened)
	assert.Equal(t, 1006, res.Code, "the handshake failed")

	reqs := d.awaitRequests(ctx, "the refused upgrade", func(rs []*seenRequest) bool {
		return slices.ContainsFunc(rs, func(r *seenRequest) bool { return r.Status != 0 })
	})
	require.Len(t, reqs, 1)
	assert.Equal(t, other.URL, reqs[0].Origin)
	assert.Equal(t, http.StatusForbidden, reqs[0].Status)
	assert.Zero(t, d.chat.Hub().NumSubscribers("xo"))
}
