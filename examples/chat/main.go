// Command chat is a browser chat room served by a fanout Hub over
// WebSocket and, through a Broker attached to the same Hub, over
// Server-Sent Events.
//
//	go run ./examples/chat            # then open http://localhost:8080
//	go run ./examples/chat -addr :9000
//
// Each browser tab shows the room named by ?topic= (default "lobby") twice,
// side by side: over a WebSocket at /ws, in the resume subprotocol
// (fanout.ResumeSubprotocol), and over an EventSource at /events. What a
// tab sends on its WebSocket reaches the Hub's OnMessage hook, which
// publishes it to the room: one Publish reaches both transports, stored
// once, with one ID, in the Hub's ReplayStore (a Ring).
//
// The other endpoints:
//
//	POST /burst?topic=ROOM&n=N       publish N numbered messages at once
//	POST /drop?transport=sse|ws[&topic=ROOM]
//	                                 end every SSE (or WebSocket) subscriber
//	                                 (of ROOM); the clients reconnect with the
//	                                 last ID they received and are replayed
//	                                 what they missed
//	GET  /stats                      hub.Stats() as JSON (both transports)
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fanout-go/fanout"
)

//go:embed index.html
var indexHTML string

var indexTmpl = template.Must(template.New("index").Parse(indexHTML))

const (
	defaultTopic = "lobby"
	maxTopicLen  = 64
	// maxBurst keeps a burst within the default per-subscriber queue
	// (DeliveryOptions.QueueSize, 256), so that a burst alone does not
	// make a tab a slow subscriber. A replayed backlog does not count
	// against the queue's limits.
	maxBurst = 256
	// ringSize is how many messages (of all rooms) the replay store keeps:
	// a client that missed more resyncs instead of resuming.
	ringSize = 4096
	// retry is how long an EventSource waits before reconnecting; the page
	// waits as long before reopening a WebSocket.
	retry = time.Second
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

// run serves the chat on addr until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln)
}

// authorize joins the room named by ?topic=, or the lobby. The Hub and the
// Broker share it, so both transports agree on what a request subscribes to.
func authorize(r *http.Request) ([]string, error) {
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		topic = defaultTopic
	}
	if len(topic) > maxTopicLen {
		return nil, fmt.Errorf("topic too long: %w", fanout.ErrForbidden)
	}
	return []string{topic}, nil
}

// onResync logs a client that asked to resume from an ID the Ring no
// longer holds (or never did: the server restarted). It got a resync
// signal instead of a replay.
func onResync(s *fanout.Subscriber, lastID string, err error) {
	log.Printf("chat: %s subscriber %d cannot resume from %q: %v", s.Transport(), s.ID(), lastID, err)
}

// serve serves the chat on ln until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener) error {
	var hub *fanout.Hub
	hub = fanout.NewHub(&fanout.HubOptions{
		Authorize: authorize,
		// Relay what a tab sends to its room: the received message is
		// published as is, stored once and prepared once per wire format.
		OnMessage: func(_ context.Context, s *fanout.Subscriber, msg *fanout.Message) {
			for _, topic := range s.Topics() {
				_ = hub.Publish(context.Background(), topic, msg) // fails only once shutting down
			}
		},
		// Every published message gets an ID and is kept, so that a client
		// that comes back with the last ID it received gets what it missed.
		Replay:   fanout.NewRing(&fanout.RingOptions{Size: ringSize}),
		OnResync: onResync,
	})
	// The Broker is a second door into the Hub: same topics, same store,
	// same IDs, same Stats, same lifecycle.
	broker := fanout.NewBroker(&fanout.BrokerOptions{
		Hub:       hub,
		Authorize: authorize,
		OnResync:  onResync,
		Retry:     retry,
	})

	var bursts atomic.Uint64
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/events", broker)
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("POST /burst", burstHandler(hub, &bursts))
	mux.HandleFunc("POST /drop", dropHandler(hub))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(hub.Stats()) // the Broker's subscribers included
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("chat: serving http://%s", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = hub.Close() // the Broker's streams too
		return err
	case <-ctx.Done():
	}

	log.Print("chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The Hub first: it refuses new subscribers (503), flushes every queue,
	// closes each WebSocket with 1001 (going away) and ends each SSE
	// response (the attached Broker shuts down with it). http.Server does
	// not track hijacked WebSocket connections, and its Shutdown would wait
	// for the SSE handlers, which return only when their stream ends.
	herr := hub.Shutdown(sctx)
	serr := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		serr = errors.Join(serr, err)
	}
	return errors.Join(herr, serr)
}

func serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := indexTmpl.Execute(w, struct{ Resume, ResyncEvent string }{
		fanout.ResumeSubprotocol, fanout.ResyncEvent,
	})
	if err != nil {
		log.Printf("chat: index: %v", err)
	}
}

// topicParam returns the request's ?topic=, or the lobby.
func topicParam(r *http.Request) string {
	if topic := r.URL.Query().Get("topic"); topic != "" {
		return topic
	}
	return defaultTopic
}

// burstHandler publishes n numbered messages to a room in a tight loop:
// "burst #K: message I of N". They queue up faster than a subscriber's
// writer can write them, so the writer sends them in a few large writes
// (/stats shows how few), and a client can check that it got them all, in
// order, once each, even across a reconnection.
func burstHandler(hub *fanout.Hub, bursts *atomic.Uint64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		topic := topicParam(r)
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > maxBurst {
			http.Error(w, fmt.Sprintf("n must be 1..%d", maxBurst), http.StatusBadRequest)
			return
		}
		k := bursts.Add(1)
		for i := 1; i <= n; i++ {
			m := fanout.NewMessage(fmt.Appendf(nil, "burst #%d: message %d of %d", k, i, n))
			if err := hub.Publish(r.Context(), topic, m); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"burst":       k,
			"topic":       topic,
			"published":   n,
			"subscribers": hub.NumSubscribers(topic),
		})
	}
}

// dropHandler ends every subscriber of one transport (of one room, with
// ?topic=), as a network failure would, and answers once they are gone:
// what is published next reaches them only by replay. An EventSource
// reconnects by itself after the Broker's Retry, sending Last-Event-ID;
// the page reopens its WebSocket with ?lastEventId=.
func dropHandler(hub *fanout.Hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tr := map[string]string{"sse": "sse", "ws": "websocket"}[r.URL.Query().Get("transport")]
		if tr == "" {
			http.Error(w, "transport must be sse or ws", http.StatusBadRequest)
			return
		}
		topic := r.URL.Query().Get("topic")
		var dropped []*fanout.Subscriber
		for _, s := range hub.Subscribers() { // SSE subscribers included
			if s.Transport() != tr || topic != "" && !slices.Contains(s.Topics(), topic) {
				continue
			}
			// SSE: the response ends. WebSocket: close status 1000.
			if s.Close() == nil {
				dropped = append(dropped, s)
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		for _, s := range dropped {
			select {
			case <-s.Done():
			case <-ctx.Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"transport": tr, "dropped": len(dropped)})
	}
}
