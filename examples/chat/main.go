// Command chat is a browser chat room served by a fanout Hub.
//
//	go run ./examples/chat            # then open http://localhost:8080
//	go run ./examples/chat -addr :9000
//
// Each browser tab joins the room named by ?topic= (default "lobby") over a
// WebSocket at /ws. What a tab sends reaches the server's OnMessage hook,
// which publishes the very same *fanout.Message to the room. POST
// /burst?topic=ROOM&n=N publishes N numbered messages at once, and /stats
// returns hub.Stats() as JSON, so the page can show how many messages each
// socket write carried. A checkbox on the page reconnects in packed mode
// (fanout.PackedSubprotocol).
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
	"strconv"
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
	// make a tab a slow subscriber.
	maxBurst = 256
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

// serve serves the chat on ln until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener) error {
	var hub *fanout.Hub
	hub = fanout.NewHub(&fanout.HubOptions{
		// Join the room named by ?topic=, or the lobby.
		Authorize: func(r *http.Request) ([]string, error) {
			topic := r.URL.Query().Get("topic")
			if topic == "" {
				topic = defaultTopic
			}
			if len(topic) > maxTopicLen {
				return nil, fmt.Errorf("topic too long: %w", fanout.ErrForbidden)
			}
			return []string{topic}, nil
		},
		// Relay what a tab sends to its room: the received message is
		// published as is, prepared once for every subscriber.
		OnMessage: func(_ context.Context, s *fanout.Subscriber, msg *fanout.Message) {
			for _, topic := range s.Topics() {
				_ = hub.Publish(context.Background(), topic, msg) // fails only once shutting down
			}
		},
		Packing: true, // only tabs that offer fanout.packed.v1 get packed frames
	})

	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.HandleFunc("GET /{$}", serveIndex)
	mux.HandleFunc("POST /burst", burstHandler(hub))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(hub.Stats())
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("chat: serving http://%s", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = hub.Close()
		return err
	case <-ctx.Done():
	}

	log.Print("chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The Hub first: it refuses new WebSockets (503), flushes every queue
	// and closes each connection with 1001 (going away). http.Server does
	// not track the hijacked WebSocket connections, so it cannot do that.
	herr := hub.Shutdown(sctx)
	serr := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		serr = errors.Join(serr, err)
	}
	return errors.Join(herr, serr)
}

func serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := indexTmpl.Execute(w, struct{ Packed string }{fanout.PackedSubprotocol})
	if err != nil {
		log.Printf("chat: index: %v", err)
	}
}

// burstHandler publishes n numbered messages to a room in a tight loop.
// They queue up faster than a subscriber's writer can write them, so the
// writer sends them in a few large writes; /stats shows how few.
func burstHandler(hub *fanout.Hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		topic := r.URL.Query().Get("topic")
		if topic == "" {
			topic = defaultTopic
		}
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 || n > maxBurst {
			http.Error(w, fmt.Sprintf("n must be 1..%d", maxBurst), http.StatusBadRequest)
			return
		}
		for i := 1; i <= n; i++ {
			m := fanout.NewMessage(fmt.Appendf(nil, "burst: message %d of %d", i, n))
			if err := hub.Publish(context.Background(), topic, m); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"topic":       topic,
			"published":   n,
			"subscribers": hub.NumSubscribers(topic),
		})
	}
}
