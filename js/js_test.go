package js_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fanout-go/fanout/js"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(js.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/fanout.js")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	assert.Equal(t, js.Source, string(body))
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/fanout.js", nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode, "revalidated")
}

// Source is the file npm packs, and the package carries the module's
// license.
func TestPackage(t *testing.T) {
	src, err := os.ReadFile("fanout.js")
	require.NoError(t, err)
	assert.Equal(t, string(src), js.Source)

	license, err := os.ReadFile("LICENSE")
	require.NoError(t, err)
	root, err := os.ReadFile("../LICENSE")
	require.NoError(t, err)
	assert.Equal(t, string(root), string(license), "js/LICENSE is a copy of the module's")

	var pkg struct {
		Name          string            `json:"name"`
		Type          string            `json:"type"`
		Files         []string          `json:"files"`
		Dependencies  map[string]string `json:"dependencies"`
		PublishConfig struct {
			Access string `json:"access"`
		} `json:"publishConfig"`
	}
	b, err := os.ReadFile("package.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	assert.Equal(t, "@fanout-go/client", pkg.Name)
	assert.Equal(t, "module", pkg.Type)
	assert.Equal(t, []string{"fanout.js", "fanout.d.ts"}, pkg.Files)
	assert.Empty(t, pkg.Dependencies, "no runtime dependencies")
	// npm publishes a scoped package restricted unless told otherwise.
	assert.Equal(t, "public", pkg.PublishConfig.Access, "publishConfig.access")
}

// The package's version is the Go release's: the newest in the CHANGELOG
// (its sections are "## vX.Y.Z — date"), as RELEASING.md says.
func TestPackage_Version(t *testing.T) {
	var pkg struct {
		Version string `json:"version"`
	}
	b, err := os.ReadFile("package.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	changelog, err := os.ReadFile("../CHANGELOG.md")
	require.NoError(t, err)
	release := regexp.MustCompile(`(?m)^## v(\d+\.\d+\.\d+\S*)`).FindSubmatch(changelog)
	if release == nil {
		t.Skip("CHANGELOG.md has no release section yet: no version to compare")
	}
	assert.Equal(t, string(release[1]), pkg.Version, "package.json's version is the newest release in CHANGELOG.md")
}
