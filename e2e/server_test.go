package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/examples/chat/room"
	"github.com/fanout-go/fanout/internal/testkit"
)

// demo is the chat demo served in-process on loopback, as examples/chat
// serves it, behind a listener that watches its streams and a gate that
// records (and can hold or refuse) the requests to /ws and /events.
type demo struct {
	t    *testing.T
	chat *room.Server
	ln   *streamListener
	gate *testkit.Gatekeeper
	base string // http://127.0.0.1:port
}

// seenRequest is a request to /ws or /events as the server saw it.
type seenRequest testkit.GateRequest

// resuming reports whether the request asks to resume from an ID.
func (r *seenRequest) resuming() bool { return (*testkit.GateRequest)(r).Resuming() }

// startDemo serves the demo until the test ends.
func startDemo(t *testing.T, opts *room.Options) *demo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if opts == nil {
		opts = &room.Options{}
	}
	opts.Logger = log.New(testWriter{t}, "", 0)
	d := &demo{
		t:    t,
		chat: room.New(opts),
		ln:   &streamListener{Listener: ln},
		gate: testkit.NewGatekeeper("/ws", "/events"),
		base: "http://" + ln.Addr().String(),
	}
	srv := &http.Server{Handler: d.gate.Wrap(d.chat), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(d.ln) }()
	t.Cleanup(func() {
		d.gate.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, d.chat.Shutdown(ctx))
		require.NoError(t, srv.Shutdown(ctx))
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	return d
}

// testWriter sends the demo's log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// hold makes requests that resume wait, from now until unhold.
func (d *demo) hold() { d.gate.Hold() }

// unhold lets the held requests through.
func (d *demo) unhold() { d.gate.Release() }

// refuseNext makes the next request to path (/ws or /events) get status,
// as a server that is shutting down (503) or says to stay away (204).
func (d *demo) refuseNext(path string, status int) { d.gate.Refuse(path, status) }

// awaitRequests waits until cond holds for the requests seen so far, and
// returns them.
func (d *demo) awaitRequests(ctx context.Context, what string, cond func([]*seenRequest) bool) []*seenRequest {
	d.t.Helper()
	var reqs []*seenRequest
	_, err := d.gate.Await(ctx, func(rs []testkit.GateRequest) bool {
		reqs = make([]*seenRequest, len(rs))
		for i := range rs {
			reqs[i] = (*seenRequest)(&rs[i])
		}
		return cond(reqs)
	})
	if err != nil {
		d.t.Fatalf("waiting for %s: %v; requests so far: %s", what, err, jsonString(reqs))
	}
	return reqs
}

// post POSTs to the demo and decodes its JSON answer.
func (d *demo) post(ctx context.Context, path string) map[string]any {
	d.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+path, nil)
	require.NoError(d.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(d.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(d.t, err)
	require.Equal(d.t, http.StatusOK, resp.StatusCode, "POST %s: %s", path, body)
	var v map[string]any
	require.NoError(d.t, json.Unmarshal(body, &v))
	return v
}

// burst publishes n numbered messages to topic with the demo's POST /burst
// and returns the burst's number.
func (d *demo) burst(ctx context.Context, topic string, n int) int {
	d.t.Helper()
	v := d.post(ctx, "/burst?topic="+url.QueryEscape(topic)+"&n="+strconv.Itoa(n))
	return int(v["burst"].(float64))
}

// publish publishes one text message to topic.
func (d *demo) publish(ctx context.Context, topic, text string) {
	d.t.Helper()
	require.NoError(d.t, d.chat.Hub().Publish(ctx, topic, fanout.NewMessage([]byte(text))))
}

// awaitStreams waits until cond holds for the listener's streams.
func (d *demo) awaitStreams(ctx context.Context, what string, cond func() bool) {
	d.t.Helper()
	if err := d.ln.await(ctx, cond); err != nil {
		d.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// holdAndBlock holds the open streams of the kinds given, publishes one
// message to topic, and waits until each of those streams' writers is
// blocked writing it. Whatever is published next queues up behind that
// write, until release.
func (d *demo) holdAndBlock(ctx context.Context, topic string, kinds ...string) []*streamConn {
	d.t.Helper()
	var cs []*streamConn
	for _, kind := range kinds {
		held := d.ln.hold(kind)
		require.NotEmpty(d.t, held, "no open %s stream", kind)
		cs = append(cs, held...)
	}
	d.publish(ctx, topic, "a message that keeps the writers busy")
	d.awaitStreams(ctx, "writers blocked", func() bool {
		for _, c := range cs {
			if !c.blocked {
				return false
			}
		}
		return true
	})
	return cs
}

// writesOf returns a copy of the writes recorded on c.
func (d *demo) writesOf(c *streamConn) [][]byte {
	d.ln.mu.Lock()
	defer d.ln.mu.Unlock()
	return append([][]byte(nil), c.writes...)
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
