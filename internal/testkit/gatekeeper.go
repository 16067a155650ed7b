package testkit

import (
	"context"
	"net/http"
	"slices"
	"sync"
)

// Gatekeeper is the request gate of the servers that real clients test
// against (e2e/ and js/test/server): an HTTP middleware that records
// every request to its paths, refuses the next ones to a path with a
// status when told to, and, while holding, makes the requests that
// resume (with a Last-Event-ID header or ?lastEventId=) wait for
// Release. A test can then publish while a client is known to be away,
// so that what the client gets comes by replay. Requests to other paths
// pass through untouched. Make one with NewGatekeeper.
type Gatekeeper struct {
	paths []string

	mu       sync.Mutex
	requests []*GateRequest // in arrival order
	refusals []refusal      // in the order Refuse was called
	holding  bool
	released chan struct{} // closed by Release
	changed  chan struct{} // closed, and replaced, on every change
}

// GateRequest is a request to a Gatekeeper's path, as the server saw it.
type GateRequest struct {
	Path        string
	LastEventID string // the Last-Event-ID header
	QueryID     string // ?lastEventId=
	Origin      string
	Protocols   string // Sec-WebSocket-Protocol
	Status      int    // refused with, or passed to WriteHeader by the handler (0 if it never called it, as for a stream it took over)
	Held        bool
	Refused     bool // by Refuse
}

// Resuming reports whether the request asks to resume from an ID.
func (r *GateRequest) Resuming() bool { return r.LastEventID != "" || r.QueryID != "" }

type refusal struct {
	path   string
	status int
}

// NewGatekeeper returns a Gatekeeper of the requests to paths (exact
// URL paths, such as "/ws" and "/events").
func NewGatekeeper(paths ...string) *Gatekeeper {
	return &Gatekeeper{paths: paths, released: make(chan struct{}), changed: make(chan struct{})}
}

// Wrap returns next behind the gate.
func (g *Gatekeeper) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(g.paths, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		seen := &GateRequest{
			Path:        r.URL.Path,
			LastEventID: r.Header.Get("Last-Event-ID"),
			QueryID:     r.URL.Query().Get("lastEventId"),
			Origin:      r.Header.Get("Origin"),
			Protocols:   r.Header.Get("Sec-WebSocket-Protocol"),
		}
		g.mu.Lock()
		if i := slices.IndexFunc(g.refusals, func(f refusal) bool { return f.path == r.URL.Path }); i >= 0 {
			seen.Refused, seen.Status = true, g.refusals[i].status
			g.refusals = slices.Delete(g.refusals, i, i+1)
		}
		seen.Held = !seen.Refused && g.holding && seen.Resuming()
		released := g.released
		g.requests = append(g.requests, seen)
		g.notify()
		g.mu.Unlock()
		if seen.Refused {
			w.WriteHeader(seen.Status)
			return
		}
		if seen.Held {
			select {
			case <-released:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(&statusWriter{ResponseWriter: w, g: g, seen: seen}, r)
	})
}

// notify wakes whoever waits on a change; g.mu must be held.
func (g *Gatekeeper) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Refuse makes the next request to path that is not yet refused get
// status and nothing else, as from a server that is shutting down (503)
// or says to stay away (204). Each call refuses one more request.
func (g *Gatekeeper) Refuse(path string, status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refusals = append(g.refusals, refusal{path, status})
}

// Hold makes the requests that resume wait, from now until Release.
func (g *Gatekeeper) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.holding {
		g.holding = true
		g.released = make(chan struct{})
	}
}

// Release lets the held requests through, and stops holding. A server
// calls it before it shuts down, so that no request stays held.
func (g *Gatekeeper) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holding {
		g.holding = false
		close(g.released)
	}
}

// Requests returns copies of the requests seen so far, in arrival order.
func (g *Gatekeeper) Requests() []GateRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.copies()
}

// copies returns copies of g.requests; g.mu must be held.
func (g *Gatekeeper) copies() []GateRequest {
	reqs := make([]GateRequest, len(g.requests))
	for i, r := range g.requests {
		reqs[i] = *r
	}
	return reqs
}

// Await waits until cond holds for the requests seen so far (a request
// arriving, a handler writing its status), and returns them; or returns
// them with ctx's error.
func (g *Gatekeeper) Await(ctx context.Context, cond func([]GateRequest) bool) ([]GateRequest, error) {
	for {
		g.mu.Lock()
		reqs, changed := g.copies(), g.changed
		g.mu.Unlock()
		if cond(reqs) {
			return reqs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return reqs, ctx.Err()
		}
	}
}

// statusWriter records the status a handler writes. It has Unwrap, so
// the Hub and the Broker reach the connection through it, as through
// any middleware.
type statusWriter struct {
	http.ResponseWriter
	g    *Gatekeeper
	seen *GateRequest
}

func (w *statusWriter) WriteHeader(code int) {
	w.g.mu.Lock()
	if w.seen.Status == 0 {
		w.seen.Status = code
	}
	w.g.notify()
	w.g.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
