// A refused subscriber (access.go) costs the engine nothing, on a Hub and
// on a Broker.

package fanout_test

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// countingEngine is an Engine (the in-process one, in these tests) whose
// Subscribe, Read and Head calls are counted: the seam through which any
// work a request costs the engine goes.
type countingEngine struct {
	fanout.Engine
	subscribes, reads, heads atomic.Int64
}

func (e *countingEngine) Subscribe(ctx context.Context, topics []string) error {
	e.subscribes.Add(1)
	return e.Engine.Subscribe(ctx, topics)
}

func (e *countingEngine) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	e.reads.Add(1)
	return e.Engine.Read(ctx, from, topics)
}

func (e *countingEngine) Head(ctx context.Context, partition int) (fanout.Position, error) {
	e.heads.Add(1)
	return e.Engine.Head(ctx, partition)
}

// calls returns the engine calls counted so far, and zeroes the counts.
func (e *countingEngine) calls() (subscribes, reads, heads int64) {
	return e.subscribes.Swap(0), e.reads.Swap(0), e.heads.Swap(0)
}

// newCountingEngine returns a countingEngine: the in-process engine over
// a Ring.
func newCountingEngine() *countingEngine {
	return &countingEngine{Engine: fanout.NewLocalEngine(fanout.NewRing(nil))}
}

// seedHistory publishes a few messages and returns the head's ID, a
// valid lastEventId.
func seedHistory(t *testing.T, eng *countingEngine, publish func(context.Context, string, *fanout.Message) error) string {
	t.Helper()
	for i := range 3 {
		require.NoError(t, publish(context.Background(), "t", num(i)))
	}
	head, err := eng.Engine.Head(context.Background(), 0)
	require.NoError(t, err)
	require.False(t, head.IsZero())
	return head.ID()
}

// upgradeHeader is a valid WebSocket handshake's header, offering the
// resume subprotocol (so a Hub that served it would read the history).
func upgradeHeader() http.Header {
	return http.Header{
		"Connection":             {"Upgrade"},
		"Upgrade":                {"websocket"},
		"Sec-Websocket-Version":  {"13"},
		"Sec-Websocket-Key":      {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Protocol": {fanout.ResumeSubprotocolV2},
	}
}

// refusedCase is one request that must be refused before any engine
// work.
type refusedCase struct {
	name   string
	method string
	query  string // with lastEventId=<a valid ID> appended
	header func(h http.Header)
	status int
}

// refusedByBoth are the requests that a Hub and a Broker both refuse.
func refusedByBoth() []refusedCase {
	return []refusedCase{
		{name: "not a GET", method: http.MethodPost, query: "topic=t", status: http.StatusMethodNotAllowed},
		{name: "Authorize refuses", query: "topic=t&deny=1", status: http.StatusUnauthorized},
		{name: "over MaxSubscribers", query: "topic=t&full=1", status: http.StatusServiceUnavailable},
		{name: "over MaxTopics", query: topicQuery(101, 1), status: http.StatusBadRequest},
		{name: "malformed query", query: "topic=t&topic=%zz", status: http.StatusBadRequest},
	}
}

// TestHub_RefusedCostsNoEngineWork: every check that can refuse a
// WebSocket request runs before the engine is asked anything: a refused
// request that carries a valid lastEventId reads no history, and
// subscribes nothing in the engine.
func TestHub_RefusedCostsNoEngineWork(t *testing.T) {
	t.Parallel()
	for _, tc := range append([]refusedCase{
		{name: "plain GET", query: "topic=t", header: func(h http.Header) {
			h.Del("Connection")
			h.Del("Upgrade")
		}, status: http.StatusUpgradeRequired},
		{name: "cross-origin", query: "topic=t", header: func(h http.Header) {
			h.Set("Origin", "http://evil.example")
		}, status: http.StatusForbidden},
		{name: "bad version", query: "topic=t", header: func(h http.Header) {
			h.Set("Sec-Websocket-Version", "8")
		}, status: http.StatusBadRequest},
		{name: "bad key", query: "topic=t", header: func(h http.Header) {
			h.Set("Sec-Websocket-Key", "short")
		}, status: http.StatusBadRequest},
	}, refusedByBoth()...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eng := newCountingEngine()
			opts := &fanout.HubOptions{Engine: eng, PingInterval: -1,
				Authorize: refusedAuthorize}
			if strings.Contains(tc.query, "full=1") {
				opts.Limits.MaxSubscribers = 1
			}
			s := newServer(t, opts)
			lastID := seedHistory(t, eng, s.hub.Publish)
			if opts.Limits.MaxSubscribers == 1 {
				dialCoder(t, s.url("topic=t"), nil)
			}
			eng.calls()

			method := cmp.Or(tc.method, http.MethodGet)
			req, err := http.NewRequest(method, s.srv.URL+"/?"+tc.query+"&lastEventId="+url.QueryEscape(lastID), nil)
			require.NoError(t, err)
			req.Header = upgradeHeader()
			if tc.header != nil {
				tc.header(req.Header)
			}
			resp, err := s.srv.Client().Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assertNoEngineWork(t, eng)

			// The counting works: the same request, well formed, reads.
			if opts.Limits.MaxSubscribers == 1 {
				return // no room for it
			}
			dialCoder(t, s.url("topic=t&lastEventId="+url.QueryEscape(lastID)),
				&websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocolV2}})
			assertResumeRead(t, eng)
		})
	}
}

// TestBroker_RefusedCostsNoEngineWork is the same for SSE requests, with
// a Last-Event-ID header.
func TestBroker_RefusedCostsNoEngineWork(t *testing.T) {
	t.Parallel()
	for _, tc := range refusedByBoth() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eng := newCountingEngine()
			opts := &fanout.BrokerOptions{Engine: eng, Heartbeat: -1,
				Authorize: refusedAuthorize}
			if strings.Contains(tc.query, "full=1") {
				opts.Limits.MaxSubscribers = 1
			}
			s := newSSEServer(t, opts)
			lastID := seedHistory(t, eng, s.broker.Publish)
			if opts.Limits.MaxSubscribers == 1 {
				sseOpen(t, s.url("topic=t"), nil)
			}
			eng.calls()

			req, err := http.NewRequest(cmp.Or(tc.method, http.MethodGet), s.url(tc.query), nil)
			require.NoError(t, err)
			req.Header.Set("Last-Event-ID", lastID)
			resp, err := s.srv.Client().Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assertNoEngineWork(t, eng)

			if opts.Limits.MaxSubscribers == 1 {
				return
			}
			sseOpen(t, s.url("topic=t"), http.Header{"Last-Event-Id": {lastID}})
			assertResumeRead(t, eng)
		})
	}
}

// refusedAuthorize grants the request's topics, and refuses with 401 a
// request whose query has deny.
func refusedAuthorize(r *http.Request) (fanout.Grant, error) {
	if r.URL.Query().Has("deny") {
		return fanout.Grant{}, fanout.ErrUnauthorized
	}
	return fanout.Grant{Topics: r.URL.Query()["topic"]}, nil
}

// assertNoEngineWork checks that eng was not called since its last calls.
func assertNoEngineWork(t *testing.T, eng *countingEngine) {
	t.Helper()
	subscribes, reads, heads := eng.calls()
	assert.Zero(t, subscribes, "engine Subscribe calls")
	assert.Zero(t, reads, "engine Read calls")
	assert.Zero(t, heads, "engine Head calls")
}

// assertResumeRead checks that eng served one resuming subscriber since
// its last calls: the counting works.
func assertResumeRead(t *testing.T, eng *countingEngine) {
	t.Helper()
	subscribes, reads, _ := eng.calls()
	assert.EqualValues(t, 1, subscribes, "a served request subscribes")
	assert.EqualValues(t, 1, reads, "a served resume reads the history")
}
