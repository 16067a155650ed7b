// Package room is the chat demo's server as an http.Handler: a fanout Hub
// over WebSocket and, through a Broker attached to the same Hub, over
// Server-Sent Events, with the page that shows a room over both. The demo's
// command (examples/chat) serves it; tests, the browser suite in e2e/ among
// them, serve it in-process.
//
// Each browser tab shows the room named by ?topic= (default "lobby") twice,
// side by side: over a WebSocket at /ws and over an EventSource at /events.
// The page's ?ws= picks the WebSocket's subprotocol: "resume"
// (fanout.ResumeSubprotocolV2, the default), "packed"
// (fanout.PackedSubprotocolV2) or "plain" (one text frame per message);
// the page offers each v1 too, as a fallback for an older server. What
// a tab sends on its WebSocket reaches the Hub's OnMessage hook, which
// publishes it to the room: one Publish reaches both transports, stored
// once, with one ID, in the Hub's ReplayStore (a Ring).
//
// The endpoints:
//
//	GET  /?topic=ROOM&ws=MODE        the page
//	GET  /fanout.js                  the JavaScript client, @fanout-go/client
//	                                 (package js), which the page imports
//	GET  /ws?topic=ROOM              the Hub
//	GET  /events?topic=ROOM          the Broker
//	POST /burst?topic=ROOM&n=N       publish N numbered messages at once
//	POST /drop?transport=sse|ws[&topic=ROOM]
//	                                 end every SSE (or WebSocket) subscriber
//	                                 (of ROOM); the clients reconnect with the
//	                                 last ID they received and are replayed
//	                                 what they missed
//	GET  /stats                      hub.Stats() as JSON (both transports)
package room

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/js"
)

var (
	//go:embed index.html
	indexHTML string

	indexTmpl = template.Must(template.New("index").Parse(indexHTML))
)

const (
	// DefaultTopic is the room a request without ?topic= joins.
	DefaultTopic = "lobby"
	// MaxBurst keeps a burst well within the default per-subscriber queue
	// (DeliveryOptions.QueueSize, 4096), so that a burst alone does not
	// make a tab a slow subscriber. A replayed backlog does not count
	// against the queue's limits.
	MaxBurst    = 1000
	maxTopicLen = 64
)

// Options configures a Server. The zero value (or nil) is the demo's.
type Options struct {
	// RingSize is how many messages, of all rooms, the replay Ring keeps:
	// a client that missed more resyncs instead of resuming. Zero means
	// 4096.
	RingSize int
	// Retry is how long an EventSource waits before reconnecting; the page
	// waits as long before reopening a WebSocket. Zero means one second.
	Retry time.Duration
	// Logger receives the server's log lines; nil means log.Default().
	Logger *log.Logger
	// Observer, if set, goes into the Hub's DeliveryOptions (see
	// fanout.Observer): a metrics collector's, which then reads the Hub
	// (Server.Hub). Nil means none.
	Observer fanout.Observer
	// Compression sets the Hub's HubOptions.Compression: browsers that
	// offer permessage-deflate (all but Safari) then receive messages
	// of 512 bytes and more compressed. Off by default.
	Compression bool
	// Store, if set, keeps the history instead of a Ring of RingSize: a
	// durable one (the bolt module's) outlives a restart. The caller
	// closes it, after the Server.
	Store fanout.ReplayStore
	// Engine, if set, orders, stores and distributes the room's messages
	// instead of the in-process engine (the Redis engine shares them with
	// other processes: every process's tabs are in the same rooms). Store
	// and RingSize are then unused. The Server closes it.
	Engine fanout.Engine
}

// Server is the chat: an http.Handler for every endpoint above.
type Server struct {
	hub    *fanout.Hub
	mux    *http.ServeMux
	retry  time.Duration
	logger *log.Logger
	bursts atomic.Uint64
}

// New returns the chat server. Close or Shutdown it when done.
func New(opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RingSize <= 0 {
		o.RingSize = 4096
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	if o.Store == nil {
		o.Store = fanout.NewRing(&fanout.RingOptions{Size: o.RingSize})
	}
	s := &Server{retry: o.Retry, logger: o.Logger}
	s.hub = fanout.NewHub(&fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: o.Observer},
		Compression:     o.Compression,
		Authorize:       authorize,
		// Relay what a tab sends to its room: the received message is
		// published as is, stored once and prepared once per wire format.
		OnMessage: func(_ context.Context, sub *fanout.Subscriber, msg *fanout.Message) {
			for _, topic := range sub.Topics() {
				_ = s.hub.Publish(context.Background(), topic, msg) // fails only once shutting down
			}
		},
		// Clients that offer fanout.packed.v2 (or v1) get each batch as one frame.
		Packing: true,
		// Every published message gets an ID and is kept, so that a client
		// that comes back with the last ID it received gets what it missed.
		Replay:   o.Store,
		Engine:   o.Engine,
		OnResync: s.onResync,
	})
	// The Broker is a second door into the Hub: same topics, same store,
	// same IDs, same Stats, same lifecycle.
	broker := fanout.NewBroker(&fanout.BrokerOptions{
		Hub:       s.hub,
		Authorize: authorize,
		OnResync:  s.onResync,
		Retry:     o.Retry,
	})

	s.mux = http.NewServeMux()
	s.mux.Handle("/ws", s.hub)
	s.mux.Handle("/events", broker)
	s.mux.HandleFunc("GET /{$}", s.serveIndex)
	s.mux.Handle("GET /fanout.js", js.Handler())
	s.mux.HandleFunc("POST /burst", s.serveBurst)
	s.mux.HandleFunc("POST /drop", s.serveDrop)
	s.mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.hub.Stats()) // the Broker's subscribers included
	})
	return s
}

// ServeHTTP serves the page and the endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Hub returns the chat's Hub (its Broker is attached to it).
func (s *Server) Hub() *fanout.Hub { return s.hub }

// Shutdown refuses new subscribers (503), flushes every queue, closes each
// WebSocket with 1001 (going away) and ends each SSE stream. Call it before
// http.Server.Shutdown: that does not track hijacked connections, and it
// would wait for SSE handlers that return only when their stream ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.hub.Shutdown(ctx) }

// Close ends every subscriber at once.
func (s *Server) Close() error { return s.hub.Close() }

// authorize joins the room named by ?topic=, or the lobby. The Hub and the
// Broker share it, so both transports agree on what a request subscribes to.
func authorize(r *http.Request) (fanout.Grant, error) {
	topic := topicParam(r)
	if len(topic) > maxTopicLen {
		return fanout.Grant{}, fmt.Errorf("topic too long: %w", fanout.ErrForbidden)
	}
	return fanout.Grant{Topics: []string{topic}}, nil
}

// topicParam returns the request's ?topic=, or the lobby.
func topicParam(r *http.Request) string {
	if topic := r.URL.Query().Get("topic"); topic != "" {
		return topic
	}
	return DefaultTopic
}

// onResync logs a client that asked to resume from an ID the Ring no
// longer holds (or never did: the server restarted). It got a resync
// signal instead of a replay.
func (s *Server) onResync(sub *fanout.Subscriber, lastID string, err error) {
	s.logger.Printf("chat: %s subscriber %d cannot resume from %q: %v", sub.Transport(), sub.ID(), lastID, err)
}

func (s *Server) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := indexTmpl.Execute(w, struct {
		RetryMS  int64
		MaxBurst int
	}{s.retry.Milliseconds(), MaxBurst})
	if err != nil {
		s.logger.Printf("chat: index: %v", err)
	}
}

// serveBurst publishes n numbered messages to a room in a tight loop:
// "burst #K: message I of N". They queue up faster than a subscriber's
// writer can write them, so the writer sends them in a few large writes
// (/stats shows how few), and a client can check that it got them all, in
// order, once each, even across a reconnection.
func (s *Server) serveBurst(w http.ResponseWriter, r *http.Request) {
	topic := topicParam(r)
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 1 || n > MaxBurst {
		http.Error(w, fmt.Sprintf("n must be 1..%d", MaxBurst), http.StatusBadRequest)
		return
	}
	k := s.bursts.Add(1)
	for i := 1; i <= n; i++ {
		m := fanout.NewMessage(fmt.Appendf(nil, "burst #%d: message %d of %d", k, i, n))
		if err := s.hub.Publish(r.Context(), topic, m); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"burst":       k,
		"topic":       topic,
		"published":   n,
		"subscribers": s.hub.NumSubscribers(topic),
	})
}

// serveDrop ends every subscriber of one transport (of one room, with
// ?topic=), as a network failure would, and answers once they are gone:
// what is published next reaches them only by replay. An EventSource
// reconnects by itself after the Broker's Retry, sending Last-Event-ID;
// the page reopens its WebSocket with ?lastEventId=.
func (s *Server) serveDrop(w http.ResponseWriter, r *http.Request) {
	tr := map[string]string{"sse": "sse", "ws": "websocket"}[r.URL.Query().Get("transport")]
	if tr == "" {
		http.Error(w, "transport must be sse or ws", http.StatusBadRequest)
		return
	}
	topic := r.URL.Query().Get("topic")
	var dropped []*fanout.Subscriber
	for _, sub := range s.hub.Subscribers() { // SSE subscribers included
		if sub.Transport() != tr || topic != "" && !slices.Contains(sub.Topics(), topic) {
			continue
		}
		// SSE: the response ends. WebSocket: close status 1000.
		if sub.Close() == nil {
			dropped = append(dropped, sub)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	for _, sub := range dropped {
		select {
		case <-sub.Done():
		case <-ctx.Done():
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"transport": tr, "dropped": len(dropped)})
}
