package room

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fanout-go/fanout/js"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServesPageAndHelper(t *testing.T) {
	s := New(nil)
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	resp, body := get("/fanout.js")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, js.Source, body, "the client, as npm ships it")

	resp, body = get("/?topic=x&ws=packed")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{`<script type="module">`, `import { subscribe, SUBPROTOCOLS } from "/fanout.js";`,
		`max="1000"`} {
		assert.True(t, strings.Contains(body, want), "the page has %s", want)
	}
	assert.Regexp(t, `const RETRY_MS = \s*1000\s*;`, body)
	assert.False(t, strings.Contains(body, "{{"), "template fully executed")
}
