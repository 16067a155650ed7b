// Command chat is a browser chat room served by a fanout Hub over
// WebSocket and, through a Broker attached to the same Hub, over
// Server-Sent Events: the server of package room, on a listener of its own,
// with its metrics for Prometheus at /metrics. From examples/:
//
//	go run ./chat                      # then open http://localhost:8080
//	go run ./chat -addr :9000
//	go run ./chat -compress            # permessage-deflate for browsers that offer it
//	go run ./chat -store chat.db       # history in a file: clients resume across restarts
//	go run ./chat -redis localhost:6379 -addr :8081   # and again on :8082: one room, two processes
//
// Each browser tab shows the room named by ?topic= (default "lobby") twice,
// side by side: over a WebSocket at /ws and over an EventSource at /events.
// See package room for the page's options and the endpoints.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/bolt"
	"github.com/fanout-go/fanout/examples/chat/room"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
	"github.com/fanout-go/fanout/redis"
)

func main() {
	var cfg config
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.BoolVar(&cfg.compress, "compress", false, "compress messages of 512 bytes and more (permessage-deflate) for browsers that offer it")
	flag.StringVar(&cfg.store, "store", "", "keep the history in this file (bbolt), so clients resume across restarts")
	flag.StringVar(&cfg.redis, "redis", "", "share the rooms through the Redis at this address with every process started with it")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, cfg); err != nil {
		log.Fatal(err)
	}
}

// config is what the flags choose.
type config struct {
	compress bool
	store    string // a bolt file, or "": a Ring
	redis    string // a Redis address, or "": this process only
}

// run serves the chat on addr until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, cfg config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln, cfg)
}

// serve serves the chat on ln until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener, cfg config) (err error) {
	obs := fanoutprom.NewObserver(nil)
	opts := room.Options{Compression: cfg.compress, Observer: obs}
	if cfg.store != "" {
		store, err := bolt.Open(cfg.store, nil)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, store.Close()) }() // after the chat's shutdown
		opts.Store = store
		log.Printf("chat: history in %s", cfg.store)
	}
	if cfg.redis != "" {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{cfg.redis}, DisableCache: true})
		if err != nil {
			return err
		}
		defer client.Close()
		if opts.Engine, err = redis.New(client, nil); err != nil {
			return err
		}
		log.Printf("chat: rooms shared through Redis at %s", cfg.redis)
	}
	chat := room.New(&opts)
	reg := prometheus.NewRegistry()
	reg.MustRegister(fanoutprom.NewCollector(chat.Hub(), obs),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", chat)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("chat: serving http://%s (metrics at /metrics)", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = chat.Close() // the SSE streams too
		return err
	case <-ctx.Done():
	}

	log.Print("chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The chat first: it refuses new subscribers (503), flushes every
	// queue, closes each WebSocket with 1001 (going away) and ends each SSE
	// stream. http.Server does not track hijacked connections, and its
	// Shutdown would wait for SSE handlers still streaming.
	herr := chat.Shutdown(sctx)
	serr := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		serr = errors.Join(serr, err)
	}
	return errors.Join(herr, serr)
}
