package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// installPacked packs ../js with npm pack, as npm publish would, and
// installs the tarball into an empty project of the test's own (from the
// file: the registry is not asked for the package). It returns the
// project's directory.
func installPacked(t *testing.T) string {
	t.Helper()
	requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	npm := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, "npm", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("npm %s: %v: %s%s", strings.Join(args, " "), err, out, ee.Stderr)
		}
		require.NoError(t, err, "npm %s", strings.Join(args, " "))
		return out
	}
	packs, app := t.TempDir(), t.TempDir()
	js, err := filepath.Abs(filepath.Join("..", "js"))
	require.NoError(t, err)
	var packed []struct {
		Filename string `json:"filename"`
	}
	require.NoError(t, json.Unmarshal(npm(js, "pack", "--json", "--pack-destination", packs), &packed))
	require.Len(t, packed, 1)
	require.NoError(t, os.WriteFile(filepath.Join(app, "package.json"),
		[]byte(`{"name": "app", "private": true, "type": "module"}`), 0o644))
	npm(app, "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", filepath.Join(packs, packed[0].Filename))
	return app
}

// npmPage is the page of TestNPM_Browser: it imports the package by its
// name, which the import map resolves (IMPORT is the module's path), and
// subscribes to the Hub over WebSocket and to the Broker over SSE.
const npmPage = `<!doctype html>
<meta charset="utf-8">
<title>@fanout-go/client from node_modules</title>
<script type="importmap">{"imports": {"@fanout-go/client": "IMPORT"}}</script>
<script type="module">
import { subscribe } from "@fanout-go/client";
window.got = { ws: [], sse: [] };
const urls = { ws: location.origin.replace(/^http/, "ws") + "/ws?topic=npm", sse: location.origin + "/events?topic=npm" };
for (const [name, url] of Object.entries(urls)) {
  subscribe(url).on("message", (m) => window.got[name].push({ data: m.data, id: m.id }));
}
window.imported = true;
</script>
`

// TestNPM_Browser: what npm pack makes of js/, installed into an empty
// project from its tarball, is imported by a page in headless Chromium
// with no bundler: an import map maps "@fanout-go/client" to the file that
// the installed package.json's exports name, served from node_modules
// beside a Hub and a Broker attached to it. The page subscribes over both
// transports and receives, on each, the message the Hub publishes, with
// the ID its Ring gave it.
func TestNPM_Browser(t *testing.T) {
	browser := newBrowser(t)
	app := installPacked(t)

	// The browser resolves the name as a bundler would: through exports.
	var pkg struct {
		Exports map[string]json.RawMessage `json:"exports"`
	}
	b, err := os.ReadFile(filepath.Join(app, "node_modules", "@fanout-go", "client", "package.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	var dot struct {
		Default string `json:"default"`
	}
	require.NoError(t, json.Unmarshal(pkg.Exports["."], &dot), "exports[\".\"]")
	require.NotEmpty(t, dot.Default, `exports["."].default`)
	module := "/node_modules/@fanout-go/client/" + strings.TrimPrefix(dot.Default, "./")
	page := strings.Replace(npmPage, "IMPORT", module, 1)
	require.NoError(t, os.WriteFile(filepath.Join(app, "index.html"), []byte(page), 0o644))

	hub := fanout.NewHub(&fanout.HubOptions{Replay: fanout.NewRing(nil)})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/events", broker)
	mux.Handle("/", http.FileServer(http.Dir(app)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })

	p := newPage(t, browser, srv.URL+"/")
	until(p, "the module to load", "window.imported === true", func(ok bool) bool { return ok })
	require.Eventually(t, func() bool { return hub.Stats().Subscribers == 2 }, 30*time.Second, 10*time.Millisecond,
		"the page's two subscriptions")
	require.NoError(t, hub.Publish(context.Background(), "npm", fanout.NewMessage([]byte("from the Hub"))))

	type seen struct {
		Data string `json:"data"`
		ID   string `json:"id"`
	}
	got := until(p, "the message on both transports", "window.got", func(g map[string][]seen) bool {
		return len(g["ws"]) > 0 && len(g["sse"]) > 0
	})
	for _, name := range []string{"ws", "sse"} {
		require.Len(t, got[name], 1, name)
		assert.Equal(t, "from the Hub", got[name][0].Data, name)
		assert.NotEmpty(t, got[name][0].ID, "%s: the Ring's ID", name)
	}
}
