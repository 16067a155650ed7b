package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The demo used as docs/demo.md tells: a chat line, a burst, a dropped SSE
// stream and a dropped WebSocket with a burst while each was away. Both
// panels end with every message, each burst complete and in order; the
// page is then photographed (into $FANOUT_E2E_SCREENSHOT, or a file in the
// temporary directory) for the README and docs/demo.md (docs/chat.png).
func TestBrowser_Tour(t *testing.T) {
	d := startDemo(t, nil)
	p := openDemo(t, d, "topic=lobby")

	p.do("say hello",
		chromedp.SetValue(chromedp.CSS("#nick"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello from Chromium"),
		chromedp.Click(chromedp.CSS("#send button")))
	until(p, "the chat line on both panels",
		`[...document.querySelectorAll(".log div")].filter((e) => e.textContent === "alice: hello from Chromium").length`,
		func(n int) bool { return n == 2 })

	p.do("burst", chromedp.Click(chromedp.CSS("#burst button")))
	p.awaitBurst(1, 200)
	p.do("drop the SSE stream, then burst", chromedp.Click(chromedp.CSS("#dropsse")))
	p.awaitBurst(2, 200)
	p.do("drop the WebSocket, then burst", chromedp.Click(chromedp.CSS("#dropws")))
	s := p.awaitBurst(3, 200)

	const total = 1 + 3*200
	for name, ps := range map[string]panelState{"ws": s.WS, "sse": s.SSE} {
		assert.Equal(t, total, ps.Count, name)
		assert.Equal(t, 1, ps.Reconnects, name)
		assert.Len(t, ps.Bursts, 3, name)
		assert.Empty(t, ps.Resyncs, name)
	}
	assert.Equal(t, s.WS.LastID, s.SSE.LastID)
	p.assertEveryMessage(d)

	// What the page shows has caught up: counters painted, stats polled
	// since both panels are back.
	stat := func(name string) string {
		return `[...document.querySelectorAll("#stats tr")].find((tr) => tr.cells[0].textContent === "` + name +
			`")?.cells[1].textContent`
	}
	until(p, "the page painted", `[document.querySelector("#ws .count").textContent,
		document.querySelector("#sse .count").textContent, `+stat("Subscribers")+", "+stat("Delivered")+"]",
		func(v []string) bool {
			n := strconv.Itoa(total)
			return slices.Equal(v, []string{n, n, "2", strconv.Itoa(2 * total)})
		})
	p.do("size the viewport", chromedp.EmulateViewport(1360, 720))
	png := p.screenshot()
	path := os.Getenv("FANOUT_E2E_SCREENSHOT")
	if path == "" {
		path = filepath.Join(os.TempDir(), "fanout-e2e-chat.png")
	}
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// screenshot takes a PNG of the page's viewport.
func (p *page) screenshot() []byte {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	require.NoError(p.t, err)
	return v
}
