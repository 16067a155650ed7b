package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	sse "github.com/tmaxmax/go-sse"
	"go.uber.org/goleak"

	"github.com/fanout-go/fanout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestChat runs the demo on loopback: a message a client sends reaches
// every client of the room over both transports, a burst arrives complete
// and in order (one frame per message, packed with IDs, or as SSE events)
// with the same IDs on both transports, /stats counts both, and cancelling
// the context shuts the server down: 1001 for the WebSockets, a clean end
// for the SSE stream.
func TestChat(t *testing.T) {
	c := startChat(t)
	plain := c.dial("/ws?topic=room", nil)
	resume := c.dialResume("/ws?topic=room")
	next, stopSSE := c.stream("/events?topic=room")
	defer stopSSE()

	if err := plain.Write(c.ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	readPlain := func(n int) []string {
		var got []string
		for range n {
			_, b, err := plain.Read(c.ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(b))
		}
		return got
	}
	if got := readPlain(1); got[0] != "hello" {
		t.Fatalf("sender got %q back, want hello", got)
	}
	hello := c.readResume(resume, 1)[0]
	if hello.data != "hello" || hello.id == "" {
		t.Fatalf("resume client got %+v, want hello with an ID", hello)
	}
	if got := readSSE(t, next, 1)[0]; got != hello {
		t.Fatalf("SSE client got %+v, want %+v (same message, same ID)", got, hello)
	}

	if v := c.post("/burst?topic=room&n=50"); v["published"] != 50.0 || v["subscribers"] != 3.0 {
		t.Fatalf("burst: %v", v)
	}
	want := strings.Join(burst(1, 1, 50, 50), "\n")
	if got := readPlain(50); strings.Join(got, "\n") != want {
		t.Errorf("plain client got %q", got)
	}
	overWS, overSSE := c.readResume(resume, 50), readSSE(t, next, 50)
	if strings.Join(datas(overWS), "\n") != want {
		t.Errorf("resume client got %q", overWS)
	}
	if strings.Join(datas(overSSE), "\n") != want {
		t.Errorf("SSE client got %q", overSSE)
	}
	for i := range overWS {
		if overWS[i].id == "" || overWS[i].id != overSSE[i].id || overWS[i].id == hello.id {
			t.Fatalf("message %d: WebSocket ID %q, SSE ID %q: want one new ID for both", i+1, overWS[i].id, overSSE[i].id)
		}
	}

	st := c.stats(func(st fanout.Stats) bool { return st.Delivered == 3*51 })
	if st.Subscribers != 3 || st.Published != 51 || st.Delivered != 3*51 || st.Writes == 0 || st.Writes > st.Delivered {
		t.Errorf("stats: %+v", st)
	}

	// Clients keep reading during the shutdown, as real ones do: the
	// closing handshake needs their reply.
	closed := make(chan error, 2)
	for _, conn := range []*websocket.Conn{plain, resume} {
		go func() {
			_, _, err := conn.Read(c.ctx)
			closed <- err
		}()
	}
	sseEnd := make(chan error, 1)
	go func() {
		ev, err, ok := next()
		if ok && err == nil {
			err = fmt.Errorf("unexpected event %+v", ev)
		}
		sseEnd <- err
	}()
	c.shutdown() // returns only if the Hub ended the SSE stream before http.Server.Shutdown
	for range 2 {
		if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("after shutdown a WebSocket client got %v, want going away (1001)", err)
		}
	}
	if err := <-sseEnd; err != nil {
		t.Errorf("after shutdown the SSE stream ended with %v, want a clean end", err)
	}
}

// heldTransport holds every SSE reconnection (a request carrying
// Last-Event-ID) until the test releases it, so that the test can publish
// while the client is certainly away.
type heldTransport struct {
	http.Transport
	reconnecting chan string   // the Last-Event-ID of a held reconnection
	release      chan struct{} // lets one held reconnection through
}

func (h *heldTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		select {
		case h.reconnecting <- id:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return h.Transport.RoundTrip(r)
}

// TestChat_DropSSE: /drop?transport=sse ends the SSE stream, go-sse's
// client reconnects with Last-Event-ID, and a burst published while it was
// away arrives complete, in order, and once; the WebSocket client is not
// dropped and gets it live.
func TestChat_DropSSE(t *testing.T) {
	c := startChat(t)
	ws := c.dialResume("/ws?topic=room")

	tr := &heldTransport{reconnecting: make(chan string), release: make(chan struct{})}
	defer tr.CloseIdleConnections()
	events := make(chan sse.Event, 1024)
	retries := make(chan error, 16)
	client := &sse.Client{
		HTTPClient: &http.Client{Transport: tr},
		OnRetry:    func(err error, _ time.Duration) { retries <- err },
	}
	cctx, cancel := context.WithCancel(c.ctx)
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, c.base+"/events?topic=room", nil)
	conn := client.NewConnection(req)
	conn.SubscribeToAll(func(ev sse.Event) {
		// go-sse's Connection, unlike EventSource, dispatches the retry
		// field that opens each stream as an event without data. The
		// demo publishes no empty message, so skip them.
		if (ev.Data != "" || ev.Type != "") && ev.Type != fanout.PositionEvent {
			events <- ev
		}
	})
	connected := make(chan error, 1)
	go func() { connected <- conn.Connect() }()
	defer func() {
		cancel()
		<-connected
	}()
	next := func() msg {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Type != "" {
				t.Fatalf("unexpected %q event: %q", ev.Type, ev.Data)
			}
			return msg{ev.LastEventID, ev.Data}
		case err := <-connected:
			connected <- err // for the deferred wait
			t.Fatalf("SSE client gave up: %v", err)
		case <-c.ctx.Done():
			t.Fatal("timed out waiting for an SSE event")
		}
		panic("unreachable")
	}
	readSSE := func(n int) []msg {
		var got []msg
		for range n {
			got = append(got, next())
		}
		return got
	}
	// The SSE client has no "subscribed" event: wait until /stats counts it.
	if st := c.stats(func(st fanout.Stats) bool { return st.Subscribers == 2 }); st.Subscribers != 2 {
		t.Fatalf("subscribers: %d, want 2", st.Subscribers)
	}

	c.post("/burst?topic=room&n=50")
	before := readSSE(50)
	if got, want := strings.Join(datas(before), "\n"), strings.Join(burst(1, 1, 50, 50), "\n"); got != want {
		t.Fatalf("SSE client got %q", got)
	}
	lastID := before[len(before)-1].id
	if got := c.readResume(ws, 50); got[49] != before[49] {
		t.Fatalf("WebSocket client ended the burst with %+v, SSE with %+v", got[49], before[49])
	}

	if v := c.post("/drop?transport=sse&topic=room"); v["dropped"] != 1.0 {
		t.Fatalf("drop: %v, want 1 SSE subscriber dropped", v)
	}
	select {
	case err := <-retries:
		t.Logf("SSE client reconnects after: %v", err)
	case <-c.ctx.Done():
		t.Fatal("the SSE client did not notice the drop")
	}
	var resumeFrom string
	select {
	case resumeFrom = <-tr.reconnecting: // held until released below
	case <-c.ctx.Done():
		t.Fatal("the SSE client did not reconnect")
	}
	if resumeFrom != lastID {
		t.Fatalf("reconnected with Last-Event-ID %q, want %q", resumeFrom, lastID)
	}

	// Published while the SSE client is away; a marker after it shows that
	// nothing is delivered twice.
	c.post("/burst?topic=room&n=30")
	tr.release <- struct{}{}
	c.post("/burst?topic=room&n=1")
	want := append(burst(2, 1, 30, 30), burst(3, 1, 1, 1)...)
	replayed := readSSE(31)
	if got := datas(replayed); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after the reconnection the SSE client got %q,\nwant %q", got, want)
	}
	live := c.readResume(ws, 31)
	if got := datas(live); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the WebSocket client got %q", got)
	}
	for i := range live {
		if live[i].id != replayed[i].id {
			t.Fatalf("message %d: replayed ID %q, live ID %q", i+1, replayed[i].id, live[i].id)
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("SSE client got an extra event %+v", ev)
	default:
	}
}

// TestChat_DropWebSocket: /drop?transport=ws closes the WebSocket (1000);
// reopening it with ?lastEventId= replays a burst published meanwhile,
// complete and in order; an ID the server never assigned gets a resync
// record instead.
func TestChat_DropWebSocket(t *testing.T) {
	c := startChat(t)
	ws := c.dialResume("/ws?topic=room")
	c.post("/burst?topic=room&n=20")
	before := c.readResume(ws, 20)
	lastID := before[19].id

	gone := make(chan error, 1)
	go func() {
		_, _, err := ws.Read(c.ctx)
		gone <- err
	}()
	if v := c.post("/drop?transport=ws"); v["dropped"] != 1.0 {
		t.Fatalf("drop: %v, want 1 WebSocket subscriber dropped", v)
	}
	if err := <-gone; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("dropped client got %v, want a normal closure (1000)", err)
	}

	c.post("/burst?topic=room&n=40") // while away
	ws = c.dialResume("/ws?topic=room&lastEventId=" + lastID)
	c.post("/burst?topic=room&n=1")
	want := append(burst(2, 1, 40, 40), burst(3, 1, 1, 1)...)
	if got := datas(c.readResume(ws, 41)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after the reconnection the WebSocket client got %q,\nwant %q", got, want)
	}

	unknown := c.dial("/ws?topic=room&lastEventId=not-from-this-server-1",
		&websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
	_, frame, err := unknown.Read(c.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first fanout.Record
	if err := fanout.UnpackRecords(frame, func(r fanout.Record) error {
		if first.Data == nil {
			first = r
			first.Data = []byte(string(r.Data))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !first.Resync || string(first.Data) != "unknown" {
		t.Fatalf("resuming from an unknown ID: first record %+v, want a resync (unknown)", first)
	}
}
