package testkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// gated serves a Gatekeeper of /ws and /events in front of a handler
// that answers 200 (201 to /events) and counts what it serves.
func gated(t *testing.T) (*Gatekeeper, *httptest.Server, chan string) {
	t.Helper()
	g := NewGatekeeper("/ws", "/events")
	served := make(chan string, 16)
	srv := httptest.NewServer(g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- r.URL.Path
		if r.URL.Path == "/events" {
			w.WriteHeader(http.StatusCreated)
		}
	})))
	t.Cleanup(func() {
		g.Release()
		srv.Close()
	})
	return g, srv, served
}

// get makes a request, with the headers given as name, value pairs, and
// returns its status (0 and the error when it fails).
func get(ctx context.Context, t *testing.T, url string, headers ...string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestGatekeeperRecordsAndRefuses(t *testing.T) {
	g, srv, served := gated(t)
	ctx := context.Background()
	g.Refuse("/ws", http.StatusServiceUnavailable)
	g.Refuse("/ws", http.StatusNoContent)
	for _, want := range []struct {
		path   string
		status int
	}{{"/other", 200}, {"/events", 201}, {"/ws", 503}, {"/ws", 204}, {"/ws", 200}} {
		status, err := get(ctx, t, srv.URL+want.path, "Origin", "http://o.test", "Sec-WebSocket-Protocol", "p1, p2")
		if err != nil || status != want.status {
			t.Fatalf("GET %s: %d, %v; want %d", want.path, status, err, want.status)
		}
	}
	if got := []string{<-served, <-served, <-served}; !slices.Equal(got, []string{"/other", "/events", "/ws"}) {
		t.Errorf("the handler served %q; want /other, /events and the unrefused /ws", got)
	}
	reqs := g.Requests()
	want := []GateRequest{
		{Path: "/events", Status: 201},
		{Path: "/ws", Status: 503, Refused: true},
		{Path: "/ws", Status: 204, Refused: true},
		{Path: "/ws"}, // 200, but the handler did not call WriteHeader
	}
	if len(reqs) != len(want) {
		t.Fatalf("requests %+v; want %+v", reqs, want)
	}
	for i := range want {
		want[i].Origin, want[i].Protocols = "http://o.test", "p1, p2"
		if reqs[i] != want[i] {
			t.Errorf("request %d: %+v; want %+v", i, reqs[i], want[i])
		}
	}
}

func TestGatekeeperHoldsResumingRequests(t *testing.T) {
	g, srv, served := gated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Hold()
	results := make(chan int, 2)
	go func() {
		status, _ := get(ctx, t, srv.URL+"/events", "Last-Event-ID", "e1")
		results <- status
	}()
	go func() {
		status, _ := get(ctx, t, srv.URL+"/ws?lastEventId=w1")
		results <- status
	}()
	reqs, err := g.Await(ctx, func(rs []GateRequest) bool { return len(rs) == 2 })
	if err != nil {
		t.Fatalf("waiting for the two requests: %v", err)
	}
	for _, r := range reqs {
		if !r.Held || !r.Resuming() || r.Status != 0 {
			t.Errorf("%+v: want held, resuming, no status yet", r)
		}
	}
	// A request that does not resume goes through while holding.
	if status, err := get(ctx, t, srv.URL+"/ws"); err != nil || status != 200 {
		t.Fatalf("GET /ws, not resuming, while holding: %d, %v", status, err)
	}
	if got := <-served; got != "/ws" {
		t.Fatalf("served %s; want the /ws that does not resume", got)
	}
	select {
	case p := <-served:
		t.Fatalf("%s served while held", p)
	default:
	}
	g.Release()
	got := []int{Recv(t, results, 10*time.Second, "a released request's status"), Recv(t, results, 10*time.Second, "a released request's status")}
	slices.Sort(got)
	if !slices.Equal(got, []int{200, 201}) {
		t.Errorf("released requests got %v; want 200 and 201", got)
	}
	// Released: not holding any more.
	if status, err := get(ctx, t, srv.URL+"/events", "Last-Event-ID", "e2"); err != nil || status != 201 {
		t.Fatalf("GET /events resuming after Release: %d, %v", status, err)
	}
	if r := g.Requests()[3]; r.Held {
		t.Errorf("%+v held after Release", r)
	}
}

func TestGatekeeperHeldRequestGivesUp(t *testing.T) {
	g, srv, served := gated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Hold()
	reqCtx, giveUp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := get(reqCtx, t, srv.URL+"/events", "Last-Event-ID", "e1")
		done <- err
	}()
	if _, err := g.Await(ctx, func(rs []GateRequest) bool { return len(rs) == 1 && rs[0].Held }); err != nil {
		t.Fatalf("waiting for the held request: %v", err)
	}
	giveUp()
	if err := Recv(t, done, 10*time.Second, "the abandoned request's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned request: %v; want context.Canceled", err)
	}
	// Not released: the held handler must still return, as Close waits
	// for every handler.
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	ClosedWithin(t, closed, 10*time.Second, "the server's Close, with an abandoned held request")
	select {
	case p := <-served:
		t.Errorf("the abandoned request to %s was served", p)
	default:
	}
}
