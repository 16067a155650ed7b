package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/js"
)

// requireNode skips the test without node and npm, or fails it under CI,
// where .ci/run installs them.
func requireNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: CI must install it (apt-get install -y nodejs npm)", tool)
			}
			t.Skipf("%s not found (apt-get install -y nodejs npm)", tool)
		}
	}
}

// nodeClient installs testdata/node (the ws package, at the version its
// package-lock.json pins, and the scripts), with the JavaScript client
// (js.Source, as fanout.js), into a directory of the test's own with npm
// ci, and returns that directory. Without node and npm the test skips, or
// fails under CI.
func nodeClient(t *testing.T) string {
	t.Helper()
	requireNode(t)
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", "client.mjs", "partitions.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", "node", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fanout.js"), []byte(js.Source), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "npm ci: %s", out)
	return dir
}

// nodeLine is one line the Node client prints.
type nodeLine struct {
	Open   *string `json:"open"`   // the negotiated extensions' names
	Header string  `json:"header"` // the server's Sec-WebSocket-Extensions
	Sent   bool    `json:"sent"`
	Closed int     `json:"closed"`
	digest
}

// TestNode_Compression: Node's ws client, with its defaults (it offers
// permessage-deflate), negotiates the extension without context takeover
// and reads three rounds of text and binary messages, small and large,
// compressed and not, on one connection, each exactly as published (type,
// length, SHA-256); the Hub wrote a fraction of their plain size. Then it
// sends a message of its own, which ws compresses: OnMessage gets it
// intact.
func TestNode_Compression(t *testing.T) {
	dir := nodeClient(t)
	got := make(chan *fanout.Message, 1)
	hub := fanout.NewHub(&fanout.HubOptions{
		Compression: true,
		OnMessage:   func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- m },
	})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { require.NoError(t, hub.Close()) })

	ms := deflateMessages(3)
	ctx := testContext(t)
	cmd := exec.CommandContext(ctx, "node", "client.mjs", "ws"+strings.TrimPrefix(srv.URL, "http")+"/?topic=t", strconv.Itoa(len(ms)))
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func(what string) nodeLine {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("the Node client ended before %s: %v; stderr: %s", what, lines.Err(), stderr.String())
		}
		var l nodeLine
		require.NoError(t, json.Unmarshal(lines.Bytes(), &l), "line %q", lines.Text())
		return l
	}

	open := next("opening")
	require.NotNil(t, open.Open, "first line: %+v", open)
	assert.Equal(t, "permessage-deflate", *open.Open, "negotiated")
	assert.Equal(t, deflateAnswer, open.Header)
	require.Equal(t, 1, hub.Len())
	for _, m := range ms {
		require.NoError(t, hub.Publish(ctx, "t", m))
	}
	for i, m := range ms {
		l := next("message " + strconv.Itoa(i))
		assert.Equal(t, digestOf(m), l.digest, "message %d (%d bytes)", i, m.Len())
	}
	wrote, plain := hub.Stats().Bytes, plainSize(ms)
	t.Logf("%d messages: %d bytes on the wire, %d plain", len(ms), wrote, plain)
	assert.Less(t, int(wrote), plain/4, "compressed on the wire")

	sent := next("its own message")
	require.True(t, sent.Sent, "%+v", sent)
	select {
	case m := <-got:
		sum := sha256.Sum256(m.Data())
		assert.Equal(t, sent.digest, digest{Len: m.Len(), SHA256: hex.EncodeToString(sum[:])}, "the client's message, inflated")
	case <-ctx.Done():
		t.Fatal("the client's message never reached OnMessage")
	}
	require.NoError(t, hub.Close())
	assert.Equal(t, 1001, next("the close").Closed, "going away")
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
}
